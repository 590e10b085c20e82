"""What the erasure tests look for: every trace of a person left in the database, found generically through the
catalog (every table and column, whoever added them), and under FACE_ASSETS_HOME.

A person is snapshotted before the forget (`snapshot_creator`, `snapshot_cluster`): their faces' ids, embeddings,
places and files, their creator embeddings, the clusters they were. `leftovers` then lists what any table still holds
of them:
- any vector or halfvec column: a row within cosine similarity 0.9 of one of their embeddings (a copy: the same
  face seen again by the same model is ~1.0, two people never come near 0.9);
- any column that references video_face_detections (a foreign key) or is named like a face id (detection_id,
  face_id, learned_from, neighbour_ids, ...): one of their face ids;
- for a creator, any column that references creators or is named like a creator id, outside the legacy app's own
  tables: their id (video_creators: only 'legacy' tags; the tombstone forgotten_creators holds it by design);
- for a cluster, any column that references face_clusters or is named like a cluster id (merged_into and link_group
  too): one of their clusters;
- any text or jsonb column: a path of one of their files, or 'detection:<id>' / 'learned:<id>' of one of their faces.
`leftover_files` checks the files: crops and reference images gone, previews of their videos gone, and, with a face
engine, no face of theirs in any sampled frame under FACE_ASSETS_HOME.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from face_assets.db.sql_files import SQL_DIR

LEGACY_TABLES = frozenset(p.stem for p in (SQL_DIR / "legacy").glob("*.sql"))
COPY_SIMILARITY = 0.9  # a stored copy of one of their embeddings
PERSON_SIMILARITY = 0.5  # a face of the person (buffalo_sc: different people measured at most 0.25)
FACE_COLUMN = r"(detection_id|detection_ids|face_id|face_ids|neighbour_ids|learned_from)$"
CREATOR_COLUMN = r"creator_id$|creator_ids$"
CLUSTER_COLUMN = r"cluster_id$|cluster_ids$|^merged_into$|^link_group$"


@dataclass
class Person:
    creator_id: int | None
    cluster_ids: set[int]
    face_ids: set[int]
    vectors: np.ndarray  # (n, 512) unit rows: their faces' and references' embeddings
    face_videos: set[int]
    places: list[tuple[int, int, float, tuple[float, float, float, float]]]  # video, frame index, time, box
    frames: dict[str, list[tuple[float, float, float, float]]]  # frame file -> their boxes on it
    files: set[str] = field(default_factory=set)  # crops, reference images
    # Faces of the same person a person said are someone else's (taken out of their cluster): they stay, and so do
    # their embeddings and their place in the frames.
    kept_faces: set[int] = field(default_factory=set)


def _unit(rows) -> np.ndarray:
    arrays = [np.asarray(r.to_numpy() if hasattr(r, "to_numpy") else r, dtype=np.float32) for r in rows]
    matrix = np.asarray(arrays, dtype=np.float32).reshape(-1, 512)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def _snapshot(conn: psycopg.Connection, face_ids: set[int], creator_id: int | None, clusters: set[int]) -> Person:
    ids = sorted(face_ids)
    faces = conn.execute(
        "SELECT d.id, d.video_id, d.frame_index, d.frame_timestamp, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height,"
        " d.crop_path, f.path, d.embedding FROM video_face_detections d"
        " LEFT JOIN video_frames f ON f.video_id = d.video_id AND f.frame_index = d.frame_index"
        " WHERE d.id = ANY(%s) ORDER BY d.id",
        (ids,),
    ).fetchall()
    vectors = [r[10] for r in faces]
    files = {r[8] for r in faces if r[8]}
    if creator_id is not None:
        refs = conn.execute(
            "SELECT embedding, source_type, source_path FROM creator_face_embeddings WHERE creator_id = %s",
            (creator_id,),
        ).fetchall()
        vectors += [r[0] for r in refs]
        files |= {r[2] for r in refs if r[1] == "manual"}
    frames: dict[str, list] = {}
    for r in faces:
        if r[9]:
            frames.setdefault(r[9], []).append((r[4], r[5], r[6], r[7]))
    return Person(
        creator_id=creator_id,
        cluster_ids=set(clusters),
        face_ids=set(ids),
        vectors=_unit(vectors),
        face_videos={r[1] for r in faces},
        places=[(r[1], r[2], float(r[3]), (r[4], r[5], r[6], r[7])) for r in faces],
        frames=frames,
        files=files,
    )


def snapshot_creator(conn: psycopg.Connection, creator_id: int) -> Person:
    """Creator `creator_id` as the forget will see them (the same rule as sql/forget/creator_faces.sql, written
    independently)."""
    ids = {
        r[0]
        for r in conn.execute(
            "SELECT id FROM video_face_detections WHERE matched_creator_id = %(c)s"
            " AND match_status IN ('matched', 'pending', 'manual')"
            " UNION SELECT learned_from FROM creator_face_embeddings WHERE creator_id = %(c)s AND learned_from IS NOT NULL"
            " UNION SELECT substr(source_path, 11)::int FROM creator_face_embeddings WHERE creator_id = %(c)s"
            " AND source_path LIKE 'detection:%%'",
            {"c": creator_id},
        )
    }
    clusters = {r[0] for r in conn.execute("SELECT id FROM face_clusters WHERE creator_id = %s", (creator_id,))}
    return _snapshot(conn, ids, creator_id, clusters)


def snapshot_cluster(conn: psycopg.Connection, cluster_id: int) -> Person:
    ids = {r[0] for r in conn.execute("SELECT id FROM video_face_detections WHERE cluster_id = %s", (cluster_id,))}
    merged = {r[0] for r in conn.execute("SELECT id FROM face_clusters WHERE merged_into = %s", (cluster_id,))}
    return _snapshot(conn, ids, None, {cluster_id} | merged)


def _columns(conn: psycopg.Connection, where: str, params: tuple = ()) -> list[tuple[str, str, str]]:
    """(table, column, data type) of the base tables' columns matching `where` (on information_schema.columns c)."""
    return conn.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
        " JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND " + where + " ORDER BY 1, 2",
        params,
    ).fetchall()


def _referencing(conn: psycopg.Connection, table: str) -> set[tuple[str, str]]:
    """(table, column) of every single-column foreign key referencing `table`."""
    return {
        (r[0], r[1])
        for r in conn.execute(
            "SELECT cl.relname, a.attname FROM pg_constraint k JOIN pg_class cl ON cl.oid = k.conrelid"
            " JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]"
            " WHERE k.contype = 'f' AND k.confrelid = to_regclass(%s) AND cardinality(k.conkey) = 1",
            (table,),
        )
    }


def _id_columns(conn: psycopg.Connection, target: str, pattern: str) -> list[tuple[str, str, str]]:
    by_name = _columns(conn, "c.data_type IN ('integer', 'bigint', 'ARRAY') AND c.column_name ~ %s", (pattern,))
    keys = _referencing(conn, target)
    types = {(t, c): d for t, c, d in _columns(conn, "true")}
    found = {(t, c): d for t, c, d in by_name}
    found.update({(t, c): types[(t, c)] for t, c in keys if (t, c) in types})
    return sorted((t, c, d) for (t, c), d in found.items())


def _count(conn: psycopg.Connection, table: str, column: str, data_type: str, ids: list[int], extra: str = "") -> int:
    test = "{c}::bigint[] && %s::bigint[]" if data_type == "ARRAY" else "{c} = ANY(%s::bigint[])"
    query = sql.SQL("SELECT count(*) FROM {t} WHERE " + test + extra).format(
        t=sql.Identifier(table), c=sql.Identifier(column)
    )
    return conn.execute(query, (ids,)).fetchone()[0]


def leftovers(conn: psycopg.Connection, person: Person) -> list[str]:
    """What any table still holds of `person` (empty: nothing)."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    found: list[str] = []
    # 1. Embeddings, wherever they are stored.
    for table, column, _ in _columns(conn, "c.udt_name IN ('vector', 'halfvec')"):
        kept = table == "video_face_detections"  # but the faces kept as someone else's
        query = sql.SQL("SELECT {c}::vector FROM {t} WHERE {c} IS NOT NULL" + (" AND NOT id = ANY(%s)" if kept else ""))
        query = query.format(t=sql.Identifier(table), c=sql.Identifier(column))
        rows = [r[0] for r in conn.execute(query, (sorted(person.kept_faces),) if kept else None)]
        if rows and person.vectors.size:
            best = (_unit(rows) @ person.vectors.T).max(axis=1)
            close = int((best >= COPY_SIMILARITY).sum())
            if close:
                found.append(f"{table}.{column}: {close} embedding(s) of theirs")
    # 2. Their faces, by id.
    ids = sorted(person.face_ids)
    if ids:
        for table, column, data_type in _id_columns(conn, "video_face_detections", FACE_COLUMN):
            n = _count(conn, table, column, data_type, ids)
            if n:
                found.append(f"{table}.{column}: {n} row(s) naming their faces")
        n = conn.execute("SELECT count(*) FROM video_face_detections WHERE id = ANY(%s)", (ids,)).fetchone()[0]
        if n:
            found.append(f"video_face_detections: {n} of their faces")
    # 3. The creator, outside the legacy app's own tables (and the tombstone).
    if person.creator_id is not None:
        for table, column, data_type in _id_columns(conn, "creators", CREATOR_COLUMN):
            if table in ("creators", "forgotten_creators") or (table in LEGACY_TABLES and table != "video_creators"):
                continue
            extra = " AND source <> 'legacy'" if table == "video_creators" else ""
            n = _count(conn, table, column, data_type, [person.creator_id], extra)
            if n:
                found.append(f"{table}.{column}: {n} row(s) naming creator {person.creator_id}")
    # 4. The clusters they were.
    if person.cluster_ids:
        clusters = sorted(person.cluster_ids)
        for table, column, data_type in _id_columns(conn, "face_clusters", CLUSTER_COLUMN):
            if table == "face_clusters" and column == "id":
                continue
            n = _count(conn, table, column, data_type, clusters)
            if n:
                found.append(f"{table}.{column}: {n} row(s) naming cluster(s) {clusters}")
        n = conn.execute("SELECT count(*) FROM face_clusters WHERE id = ANY(%s)", (clusters,)).fetchone()[0]
        if n:
            found.append(f"face_clusters: {n} of their clusters")
    # 5. Their files and faces, named in text.
    paths = sorted(person.files)
    pattern = "(detection|learned):(" + "|".join(map(str, ids)) + ")([^0-9]|$)" if ids else None
    for table, column, _ in _columns(conn, "c.data_type IN ('text', 'character varying', 'jsonb')"):
        query = sql.SQL(
            "SELECT count(*) FROM {t} WHERE {c}::text LIKE ANY(%s) OR (%s::text IS NOT NULL AND {c}::text ~ %s)"
        ).format(t=sql.Identifier(table), c=sql.Identifier(column))
        n = conn.execute(query, (["%" + p.replace("%", r"\%") + "%" for p in paths], pattern, pattern)).fetchone()[0]
        if n:
            found.append(f"{table}.{column}: {n} row(s) naming their files or faces")
    return found


def surviving_boxes(conn: psycopg.Connection, frame_path: str) -> list[tuple[float, float, float, float]]:
    """The boxes of the faces the database still holds on a frame file (someone else's, by a person's word or the
    model's)."""
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height FROM video_frames f"
            " JOIN video_face_detections d ON d.video_id = f.video_id AND d.frame_index = f.frame_index"
            " WHERE f.path = %s",
            (frame_path,),
        )
    ]


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter = max(0.0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0.0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def leftover_files(
    conn: psycopg.Connection, home: Path, person: Person, engine=None, *, previews_gone: bool = True
) -> list[str]:
    """What FACE_ASSETS_HOME still holds of `person`: their crops and reference images, their videos' previews
    (`previews_gone`), and with `engine` (a FaceEngine) any face in the frame files of their videos that the pipeline
    would keep and that is theirs (similarity >= PERSON_SIMILARITY to one of their embeddings), but a face the
    database still holds as someone else's; any face at all that is a copy of theirs (COPY_SIMILARITY) in a preview.
    A face that is one of `person.kept_faces` is not theirs."""
    import cv2

    from face_assets.defs.faces.assets import clip_box, keep_face
    from face_assets.recognition.config import RecognitionConfig

    found = [f"file {p}" for p in sorted(person.files) if Path(p).exists()]
    if person.creator_id is not None and (home / "reference" / str(person.creator_id)).exists():
        found.append(f"folder {home / 'reference' / str(person.creator_id)}")
    previews = sorted(p for v in person.face_videos for p in (home / "previews" / str(v)).glob("*.jpg"))
    if previews_gone:
        found += [f"preview {p}" for p in previews]
    if engine is None:
        return found
    config = RecognitionConfig.load(conn)
    kept = _unit(
        r[0]
        for r in conn.execute(
            "SELECT embedding FROM video_face_detections WHERE id = ANY(%s)", (sorted(person.kept_faces),)
        )
    )
    frames = sorted(p for v in person.face_videos for p in (home / "frames" / str(v)).glob("*.jpg"))
    images = [(p, cv2.imread(str(p), cv2.IMREAD_COLOR)) for p in frames + ([] if previews_gone else previews)]
    detected = engine.detect([image for _, image in images])
    for (path, image), faces in zip(images, detected):
        held = surviving_boxes(conn, str(path)) if path in frames else []
        for face in faces:
            if not keep_face(face, config):
                continue
            vector = face.embedding / np.linalg.norm(face.embedding)
            similarity = float((person.vectors @ vector).max())
            if kept.size and float((kept @ vector).max()) >= COPY_SIMILARITY:
                continue  # a face kept as someone else's
            box = clip_box(face.bbox, image.shape[1], image.shape[0])
            if path in frames and similarity >= PERSON_SIMILARITY and not any(iou(box, k) > 0.5 for k in held):
                found.append(f"a face of theirs in {path} (similarity {similarity:.2f})")
            elif path not in frames and similarity >= COPY_SIMILARITY:
                found.append(f"a face of theirs in {path} (similarity {similarity:.2f})")
    return found


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows of every base table (a dry run changes none)."""
    return {
        table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
        for (table,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_type = 'BASE TABLE' ORDER BY 1"
        )
    }
