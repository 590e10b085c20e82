"""Creator embeddings: one 512-d face embedding per profile picture and per reference image of a creator.

Sources (`collect_sources`):
- `profile_picture`: `creators.profile_picture_path` (the migration already mapped it to this machine);
- `manual`: every image under `$FACE_ASSETS_HOME/reference/<creator id>/` (sub-folders included).
A creator who was forgotten (face_assets.review.forget) has no source: their pictures are never embedded again.

`sync_creator_embeddings` brings `creator_face_embeddings` in step with the sources:
- the best face of a picture (largest box area x detection score) becomes its row, quality_score = detection score;
  its embedding is the mean of the picture's and its mirror image's (`picture_embeddings`), and a picture without a
  face at the detector's default size gets the second pass (FaceEngine.detect_pictures: a border, smaller and larger
  detector inputs, the mirror image) before "no face" is recorded;
- `source_fingerprint` is `model|size|mtime_ns|sha256`. A picture whose size and mtime are unchanged is skipped
  without reading it; one whose content hash is unchanged (a touched file) gets its fingerprint updated without
  running the model; anything else goes through `FaceEngine.detect`, `batch_size` images per call. The model name is
  part of the fingerprint, so switching models re-embeds every picture. Unusable pictures (not an image, no face)
  are remembered the same way (creator_embedding_issues.source_fingerprint) and not retried until they change;
- writes are set-based: new embeddings are COPYed into a temporary table and upserted on
  UNIQUE(creator_id, source_type, source_path) in one statement (a changed picture keeps its row id);
- stale rows are deleted: a profile picture no longer referenced by its creator, a reference image no longer in the
  folder, a picture whose file is gone or that now fails (unreadable, no face). A picture whose whole folder is
  missing (an unmounted disk) keeps its embedding and is reported. 'video_frame' rows are never touched;
- problems go to `creator_embedding_issues` (exactly this run's problems: a fixed picture's issue disappears) and
  to the summary; one bad picture never stops the others.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg

from face_assets import settings
from face_assets.db.sql_files import read_sql
from face_assets.recognition.config import model_key
from face_assets.recognition.matching import ensure_schema

PROFILE_PICTURE = "profile_picture"
MANUAL = "manual"
OWNED_SOURCE_TYPES = (PROFILE_PICTURE, MANUAL)  # never 'video_frame'
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
DEFAULT_BATCH_SIZE = 16
MAX_IMAGE_SIDE = 2048  # larger pictures are scaled down before detection (memory; the detector works at 640 px)

# Reasons recorded in creator_embedding_issues.
FILE_NOT_FOUND = "file not found"
FOLDER_NOT_FOUND = "folder not found (disk not mounted?); the previous embedding is kept"
NOT_AN_IMAGE = "not a readable image"
NO_FACE = "no face found"


def reference_root() -> Path:
    """$FACE_ASSETS_HOME/reference: a folder per creator id holding extra reference images."""
    return settings.home() / "reference"


@dataclass(frozen=True)
class PictureSource:
    creator_id: int
    source_type: str  # 'profile_picture' | 'manual'
    path: str

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.creator_id, self.source_type, self.path)


@dataclass(frozen=True)
class Issue:
    creator_id: int | None  # None: no such creator (a reference folder named after a missing id)
    source_path: str
    reason: str
    fingerprint: str | None = None  # of the picture the problem was found on (None: no readable file)


@dataclass(frozen=True)
class StoredEmbedding:
    id: int
    creator_id: int
    source_type: str
    source_path: str
    fingerprint: str | None


@dataclass
class EmbeddingSummary:
    sources: int = 0
    embedded: int = 0  # new rows
    replaced: int = 0  # rows whose picture changed: new embedding, same row
    unchanged: int = 0  # skipped without running the model (same size and mtime, or same content)
    touched: int = 0  # of `unchanged`: same content, new mtime; fingerprint updated
    deleted: int = 0  # stale rows removed
    kept_unavailable: int = 0  # rows kept although their folder is missing
    images_through_model: int = 0
    issues: list[Issue] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {
            "sources": self.sources,
            "embedded": self.embedded,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "touched": self.touched,
            "deleted": self.deleted,
            "kept_unavailable": self.kept_unavailable,
            "images_through_model": self.images_through_model,
            "issues": len(self.issues),
        }


# --- sources and fingerprints --------------------------------------------------------------------


def collect_sources(conn: psycopg.Connection, root: Path | None = None) -> tuple[list[PictureSource], list[Issue]]:
    """Every picture that should have an embedding, and problems found while listing (unknown creator folders)."""
    root = reference_root() if root is None else Path(root)
    sources = [
        PictureSource(int(creator_id), PROFILE_PICTURE, str(path).strip())
        for creator_id, path in conn.execute(read_sql("recognition/picture_sources.sql"))
    ]
    issues: list[Issue] = []
    by_folder: dict[int, list[PictureSource]] = {}
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            if not folder.name.isdigit():
                issues.append(Issue(None, str(folder), "reference folder is not named after a creator id"))
                continue
            images = [
                PictureSource(int(folder.name), MANUAL, str(path))
                for path in sorted(folder.rglob("*"))
                if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES
            ]
            by_folder[int(folder.name)] = images
    if by_folder:
        known = dict(conn.execute(read_sql("recognition/existing_creators.sql"), {"ids": list(by_folder)}).fetchall())
        for creator_id, images in by_folder.items():
            if creator_id not in known:
                issues.append(Issue(None, str(root / str(creator_id)), f"no creator with id {creator_id}"))
            elif known[creator_id]:  # forgotten (face_assets.review.forget): never learned again
                issues.append(Issue(None, str(root / str(creator_id)), f"creator {creator_id} was forgotten: not read"))
            else:
                sources.extend(images)
    return sources, issues


def stat_part(path: str) -> str | None:
    """`size|mtime_ns` of the file, or None when it is not a readable file: the cheap half of a fingerprint."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return f"{st.st_size}|{st.st_mtime_ns}"


def fingerprint(model: str, stat: str, content: bytes) -> str:
    """`model|size|mtime_ns|sha256`: what creator_face_embeddings.source_fingerprint holds."""
    return f"{model_key(model)}|{stat}|{hashlib.sha256(content).hexdigest()}"


def split_fingerprint(value: str | None) -> tuple[str | None, str | None, str | None]:
    """(model, `size|mtime_ns`, sha256) of a stored fingerprint; Nones for a missing or foreign one."""
    parts = (value or "").split("|")
    if len(parts) != 4:
        return None, None, None
    return parts[0], f"{parts[1]}|{parts[2]}", parts[3]


def stored_embeddings(conn: psycopg.Connection) -> dict[tuple[int, str, str], StoredEmbedding]:
    return {
        (row[1], row[2], row[3]): StoredEmbedding(*row)
        for row in conn.execute(read_sql("recognition/picture_embeddings.sql"))
    }


def stored_issues(conn: psycopg.Connection) -> dict[tuple[int, str], Issue]:
    return {(row[0], row[1]): Issue(*row) for row in conn.execute(read_sql("recognition/picture_issues.sql"))}


@dataclass(frozen=True)
class PictureChange:
    source: PictureSource
    change: str  # 'new' | 'changed' | 'removed'
    stat: str | None


def picture_changes(conn: psycopg.Connection, model: str, root: Path | None = None) -> list[PictureChange]:
    """New, changed and removed pictures, from file metadata only (no file is read): what the sensor looks at.

    'new': an existing picture without an embedding, unless the last run found it unusable (no face, not an image)
    and it has not changed since. 'changed': size, mtime or model differ from the stored fingerprint.
    'removed': an embedding whose picture is no longer a source or no longer exists.
    """
    ensure_schema(conn)
    sources, _ = collect_sources(conn, root)
    stored = stored_embeddings(conn)
    problems = stored_issues(conn)
    model = model_key(model)
    changes: list[PictureChange] = []
    wanted = set()
    for source in sources:
        wanted.add(source.key)
        stat = stat_part(source.path)
        row = stored.get(source.key)
        if row is None:
            issue = problems.get((source.creator_id, source.path))
            known_bad = issue is not None and split_fingerprint(issue.fingerprint)[:2] == (model, stat)
            if stat is not None and not known_bad:
                changes.append(PictureChange(source, "new", stat))
            continue
        if stat is None:
            if Path(source.path).parent.is_dir():
                changes.append(PictureChange(source, "removed", None))
            continue
        stored_model, stored_stat, _ = split_fingerprint(row.fingerprint)
        if stored_model != model or stored_stat != stat:
            changes.append(PictureChange(source, "changed", stat))
    for key in stored:
        if key not in wanted:
            changes.append(PictureChange(PictureSource(*key), "removed", None))
    return changes


# --- images and faces ----------------------------------------------------------------------------


def decode_image(content: bytes) -> np.ndarray | None:
    """BGR uint8 image (EXIF orientation applied), scaled down to MAX_IMAGE_SIDE; None when not an image."""
    import cv2

    if not content:
        return None
    image = cv2.imdecode(np.frombuffer(content, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        return None
    height, width = image.shape[:2]
    scale = MAX_IMAGE_SIDE / max(height, width)
    if scale < 1:
        image = cv2.resize(
            image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
    return image


def best_face(faces: Sequence):
    """The face with the largest box area x detection score (the subject of a portrait), or None."""

    def weight(face) -> float:
        x1, y1, x2, y2 = face.bbox
        return max(0.0, x2 - x1) * max(0.0, y2 - y1) * float(face.det_score)

    return max(faces, key=weight) if faces else None


def picture_embeddings(engine, images: Sequence[np.ndarray]) -> list[tuple[float, np.ndarray] | None]:
    """Per picture: (detection score, reference embedding) of its best face, or None when no face was found.

    The embedding is the mean of the picture's and its horizontal mirror's (renormalised): a reference should not
    depend on which way the head turns in one photo, and the mirrored face is the same person seen from the other
    side (the usual test-time flip of face recognition). `engine.detect_pictures` (FaceEngine) gives pictures
    without a face the second pass (FaceEngine.second_pass); an engine without it is asked with `detect`.
    """
    import cv2

    detect = getattr(engine, "detect_pictures", None) or engine.detect
    images = list(images)
    results = detect(images + [cv2.flip(image, 1) for image in images])
    out: list[tuple[float, np.ndarray] | None] = []
    for plain, mirrored in zip(results[: len(images)], results[len(images) :]):
        face, twin = best_face(plain), best_face(mirrored)
        if face is None:
            face, twin = twin, None
        if face is None:
            out.append(None)
            continue
        embedding = np.asarray(face.embedding, dtype=np.float32)
        if twin is not None:
            embedding = embedding + np.asarray(twin.embedding, dtype=np.float32)
        out.append((float(face.det_score), embedding / max(float(np.linalg.norm(embedding)), 1e-12)))
    return out


@dataclass
class _Work:
    source: PictureSource
    fingerprint: str
    content: bytes
    row: StoredEmbedding | None


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the sync ------------------------------------------------------------------------------------


def sync_creator_embeddings(
    conn: psycopg.Connection,
    engine,
    *,
    model: str | None = None,
    root: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    log: Callable[[str], None] | None = None,
) -> EmbeddingSummary:
    """Bring creator_face_embeddings in step with the creators' pictures (see the module docstring).

    `engine` is a FaceEngine (anything with `detect(images) -> list[list[face]]`); `model` names it in fingerprints
    (default: engine.model_name). Reading happens in one short transaction, the model runs outside any transaction,
    and all writes are one transaction. Commits on `conn`.
    """
    log = log or (lambda message: None)
    model = model_key(model or getattr(engine, "model_name", None) or settings.model_name())
    summary = EmbeddingSummary()

    ensure_schema(conn)
    sources, listing_issues = collect_sources(conn, root)
    stored = stored_embeddings(conn)
    problems = stored_issues(conn)
    conn.commit()
    summary.sources = len(sources)
    summary.issues.extend(listing_issues)

    keep: set[int] = set()  # row ids that stay
    work: list[_Work] = []  # pictures that go through the model
    touched: list[tuple[int, str]] = []
    for source in sources:
        row = stored.get(source.key)
        stat = stat_part(source.path)
        if stat is None:
            if not Path(source.path).parent.is_dir():
                summary.issues.append(Issue(source.creator_id, source.path, FOLDER_NOT_FOUND))
                if row is not None:
                    keep.add(row.id)
                    summary.kept_unavailable += 1
            else:
                summary.issues.append(Issue(source.creator_id, source.path, FILE_NOT_FOUND))
            continue
        # The fingerprint last seen: of the embedded picture, or of the picture a problem was found on.
        issue = problems.get((source.creator_id, source.path)) if row is None else None
        previous = row.fingerprint if row is not None else (issue.fingerprint if issue is not None else None)
        stored_model, stored_stat, stored_hash = split_fingerprint(previous)
        if stored_model == model and stored_stat == stat:
            if row is not None:
                keep.add(row.id)
            else:  # the same unusable picture as last time: the same problem, no model run
                summary.issues.append(Issue(source.creator_id, source.path, issue.reason, previous))
            summary.unchanged += 1
            continue
        try:
            content = Path(source.path).read_bytes()
        except OSError as exc:
            summary.issues.append(Issue(source.creator_id, source.path, f"unreadable file: {exc.strerror or exc}"))
            continue
        new_print = fingerprint(model, stat, content)
        if stored_model == model and stored_hash == new_print.rsplit("|", 1)[1]:  # touched, same content
            if row is not None:
                keep.add(row.id)
                touched.append((row.id, new_print))
            else:
                summary.issues.append(Issue(source.creator_id, source.path, issue.reason, new_print))
            summary.unchanged += 1
            summary.touched += 1
            continue
        work.append(_Work(source, new_print, content, row))

    embedded: list[tuple[PictureSource, str, float, np.ndarray]] = []
    for batch in _batches(work, max(1, batch_size)):
        images, ready = [], []
        for item in batch:
            image = decode_image(item.content)
            if image is None:
                summary.issues.append(Issue(item.source.creator_id, item.source.path, NOT_AN_IMAGE, item.fingerprint))
            else:
                images.append(image)
                ready.append(item)
            item.content = b""  # the hash is in the fingerprint; free the bytes
        if not images:
            continue
        summary.images_through_model += len(images)
        for item, found in zip(ready, picture_embeddings(engine, images)):
            if found is None:
                summary.issues.append(Issue(item.source.creator_id, item.source.path, NO_FACE, item.fingerprint))
                continue
            embedded.append((item.source, item.fingerprint, found[0], found[1]))
        log(f"creator_embeddings: {summary.images_through_model}/{len(work)} pictures through the model")

    # Rows that neither stay as they are nor get a new embedding (upserted in place) are stale.
    keep.update(stored[source.key].id for source, *_ in embedded if source.key in stored)
    stale = [row.id for row in stored.values() if row.id not in keep]

    with conn.transaction():
        if embedded:  # the first embeddings of a database record its model; another model's are refused
            from face_assets.recognition.model_record import ModelIdentity, claim_model

            claim_model(conn, ModelIdentity.of_engine(engine))
        conn.execute(read_sql("recognition/lock.sql"), {"name": "face_assets.creator_embeddings"})
        if embedded:
            conn.execute(read_sql("recognition/stage_embeddings.sql"))
            with conn.cursor() as cur, cur.copy(read_sql("recognition/copy_embeddings.sql")) as copy:
                copy.set_types(["int4", "text", "text", "text", "float4", "vector"])
                for source, fp, score, emb in embedded:
                    copy.write_row((source.creator_id, source.source_type, source.path, fp, score, emb))
            for (inserted,) in conn.execute(read_sql("recognition/upsert_embeddings.sql")).fetchall():
                if inserted:
                    summary.embedded += 1
                else:
                    summary.replaced += 1
        if touched:
            conn.execute(
                read_sql("recognition/touch_fingerprints.sql"),
                {"ids": [i for i, _ in touched], "fingerprints": [fp for _, fp in touched]},
            )
        if stale:
            summary.deleted = conn.execute(read_sql("recognition/delete_embeddings.sql"), {"ids": stale}).rowcount
        record_issues(conn, summary.issues)
    conn.commit()
    return summary


def record_issues(conn: psycopg.Connection, issues: Sequence[Issue]) -> None:
    """Replace the recorded picture problems by `issues` (those of a creator; sql/recognition/replace_issues.sql)."""
    recorded = [i for i in issues if i.creator_id is not None]
    conn.execute(
        read_sql("recognition/replace_issues.sql"),
        {
            "creator_ids": [i.creator_id for i in recorded],
            "paths": [i.source_path for i in recorded],
            "reasons": [i.reason for i in recorded],
            "fingerprints": [i.fingerprint for i in recorded],
        },
    )
