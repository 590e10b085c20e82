"""What the review app shows: keyset-paginated listings and detail views, read from the face tables.

Plain functions of a psycopg connection returning dataclasses / dicts (face_assets.web turns them into JSON and
pages). Listings page with a keyset cursor (the sort key of the last row shown), never OFFSET: a deep page costs
what the first one does (benchmarks/bench_review_pages.py measures both). A cursor is an opaque string to clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from face_assets.db.sql_files import read_sql, with_fragments
from face_assets.recognition.config import RecognitionConfig

MAYBE_VIDEOS_REFS = 5  # the creator's known faces the "may contain" search starts from
MAYBE_VIDEOS_K = 200  # nearest faces looked at per known face (HNSW; ef_search is raised to match)
CANDIDATES_SHOWN = 5  # best creators shown when explaining a proposal


class BadCursor(ValueError):
    """A cursor that this listing did not hand out."""


@dataclass(frozen=True)
class Face:
    detection_id: int
    video_id: int
    video: str
    frame_timestamp: float
    frame_index: int
    bbox: tuple[float, float, float, float]  # x, y, width, height in pixels of the frame
    match_status: str
    creator_id: int | None
    creator: str | None
    confidence: float | None
    decided: bool
    cluster_id: int | None
    detection_score: float | None

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["bbox"] = list(self.bbox)
        return out


def _face(r: Sequence) -> Face:
    return Face(
        detection_id=r[0],
        video_id=r[1],
        video=r[2],
        frame_timestamp=float(r[3]),
        frame_index=r[4],
        bbox=(float(r[5]), float(r[6]), float(r[7]), float(r[8])),
        match_status=r[9],
        creator_id=r[10],
        creator=r[11],
        confidence=None if r[12] is None else float(r[12]),
        decided=bool(r[13]),
        cluster_id=r[14],
        detection_score=None if r[15] is None else float(r[15]),
    )


@dataclass
class Page:
    items: list
    next_cursor: str | None  # None: this was the last page


def _cursor(*parts: Any) -> str:
    return "_".join(repr(float(p)) if isinstance(p, float) else str(int(p)) for p in parts)


def _parse_cursor(cursor: str | None, kinds: Sequence[type]) -> list | None:
    if not cursor:
        return None
    parts = cursor.split("_")
    if len(parts) != len(kinds):
        raise BadCursor(f"not a cursor of this listing: {cursor!r}")
    try:
        return [kind(p) for kind, p in zip(kinds, parts)]
    except ValueError:
        raise BadCursor(f"not a cursor of this listing: {cursor!r}") from None


# --- the review queue ---------------------------------------------------------------------------------------------


def pending_page(
    conn: psycopg.Connection,
    limit: int = 50,
    cursor: str | None = None,
    *,
    video_id: int | None = None,
    creator_id: int | None = None,
) -> Page:
    """Pending proposals (face + proposed creator), most similar first."""
    after = _parse_cursor(cursor, (float, int))
    rows = conn.execute(
        read_sql("review/pending_page.sql"),
        {
            "limit": limit + 1,
            "video_id": video_id,
            "creator_id": creator_id,
            "after_confidence": after[0] if after else None,
            "after_id": after[1] if after else None,
        },
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        Face(
            detection_id=r[0],
            video_id=r[1],
            video=r[2],
            frame_timestamp=float(r[6]),
            frame_index=r[7],
            bbox=(float(r[8]), float(r[9]), float(r[10]), float(r[11])),
            match_status="pending",
            creator_id=r[3],
            creator=r[4],
            confidence=None if r[5] is None else float(r[5]),
            decided=False,
            cluster_id=None,
            detection_score=None,
        )
        for r in rows
    ]
    return Page(items, _cursor(float(rows[-1][12]), rows[-1][0]) if more else None)


@dataclass
class PendingGroup:
    """The proposals of one creator in one video: decided together on the review page."""

    video_id: int
    video: str
    creator_id: int
    creator: str | None
    best: float | None
    faces: int
    frames: int
    shown: list[Face] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "shown"}
        out["shown"] = [f.as_json() for f in self.shown]
        return out


def pending_groups(
    conn: psycopg.Connection, limit: int = 20, cursor: str | None = None, *, faces_per_group: int = 8
) -> Page:
    """The review queue grouped by (video, proposed creator), best similarity first; each group with its best faces."""
    after = _parse_cursor(cursor, (float, int, int))
    rows = conn.execute(
        read_sql("review/pending_groups.sql"),
        {
            "limit": limit + 1,
            "faces_per_group": faces_per_group,
            "after_best": after[0] if after else None,
            "after_video": after[1] if after else None,
            "after_creator": after[2] if after else None,
        },
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    faces = faces_by_id(conn, [i for r in rows for i in r[7]])
    groups = [
        PendingGroup(
            r[0],
            r[1],
            r[2],
            r[3],
            None if r[4] is None or r[4] < 0 else float(r[4]),
            r[5],
            r[6],
            [faces[i] for i in r[7] if i in faces],
        )
        for r in rows
    ]
    return Page(groups, _cursor(float(rows[-1][4]), rows[-1][0], rows[-1][2]) if more else None)


def _face_query(name: str):
    """sql/review/<name>.sql with its `{face_rows}` head: one select list for every query _face reads."""
    return with_fragments(f"review/{name}.sql", face_rows="review/face_rows.sql")


def faces_by_id(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, Face]:
    if not ids:
        return {}
    return {r[0]: _face(r) for r in conn.execute(_face_query("faces_by_id"), {"ids": list(ids)})}


def explain_face(conn: psycopg.Connection, detection_id: int, limit: int = CANDIDATES_SHOWN) -> dict | None:
    """One face and why it got its proposal: its best creators (each with the reference that matched), the gap to
    the runner-up, and its vetoed creators. None when there is no such face."""
    face = faces_by_id(conn, [detection_id]).get(detection_id)
    if face is None:
        return None
    rows = conn.execute(read_sql("review/face_candidates.sql"), {"id": detection_id}).fetchall()
    rows.sort(key=lambda r: -float(r[2]))
    vetoed: set[int] = set()
    if conn.execute("SELECT to_regclass('face_match_rejections')").fetchone()[0] is not None:
        vetoed = {
            r[0]
            for r in conn.execute(
                "SELECT creator_id FROM face_match_rejections WHERE detection_id = %s", (detection_id,)
            )
        }
    candidates = [
        {
            "creator_id": r[0],
            "creator": r[1],
            "similarity": round(float(r[2]), 4),
            "reference_id": r[3],
            "reference_source": r[4],
            "vetoed": r[0] in vetoed,
        }
        for r in rows[:limit]
    ]
    allowed = [c for c in candidates if not c["vetoed"]]
    runner_up = next((c for c in allowed if c["creator_id"] != face.creator_id), None)
    mine = next((c for c in candidates if c["creator_id"] == face.creator_id), None)
    return {
        "face": face.as_json(),
        "candidates": candidates,
        "matched_reference": mine,
        "runner_up": runner_up,
        "margin": None if mine is None or runner_up is None else round(mine["similarity"] - runner_up["similarity"], 4),
    }


# --- clusters -----------------------------------------------------------------------------------------------------


@dataclass
class ClusterCard:
    id: int
    status: str
    size: int
    n_videos: int
    representative_detection_id: int | None
    creator_id: int | None
    creator: str | None
    merged_into: int | None
    sample_detection_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _card(r: Sequence) -> ClusterCard:
    return ClusterCard(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])


def clusters_page(
    conn: psycopg.Connection, status: str = "open", limit: int = 24, cursor: str | None = None, *, samples: int = 4
) -> Page:
    """Clusters with `status`, largest first, each with up to `samples` sample faces."""
    after = _parse_cursor(cursor, (int, int))
    rows = conn.execute(
        read_sql("review/clusters_page.sql"),
        {
            "status": status,
            "limit": limit + 1,
            "after_size": after[0] if after else None,
            "after_id": after[1] if after else None,
        },
    ).fetchall()
    more = len(rows) > limit
    cards = [_card(r) for r in rows[:limit]]
    _add_samples(conn, cards, samples)
    return Page(cards, _cursor(cards[-1].size, cards[-1].id) if more else None)


def _add_samples(conn: psycopg.Connection, cards: Sequence[ClusterCard], samples: int) -> None:
    if not cards or samples <= 0:
        return
    by_id = {c.id: c for c in cards}
    for cluster_id, face_id in conn.execute(
        read_sql("review/cluster_samples.sql"), {"ids": list(by_id), "per_cluster": samples}
    ):
        by_id[cluster_id].sample_detection_ids.append(face_id)


def cluster_detail(
    conn: psycopg.Connection, cluster_id: int, limit: int = 60, cursor: str | None = None
) -> dict | None:
    """A cluster, one page of its faces (id order) and its videos; None when there is no such cluster."""
    row = conn.execute(read_sql("review/clusters_by_id.sql"), {"ids": [cluster_id]}).fetchone()
    if row is None:
        return None
    card = _card(row)
    after = _parse_cursor(cursor, (int,))
    rows = conn.execute(
        _face_query("cluster_face_page"),
        {
            "cluster_id": cluster_id,
            "limit": limit + 1,
            "after_id": after[0] if after else None,
        },
    ).fetchall()
    more = len(rows) > limit
    faces = [_face(r) for r in rows[:limit]]
    videos = conn.execute(read_sql("review/cluster_videos.sql"), {"cluster_id": cluster_id, "limit": 100}).fetchall()
    return {
        "cluster": card.as_json(),
        "faces": [f.as_json() for f in faces],
        "next_cursor": _cursor(faces[-1].detection_id) if more else None,
        "videos": [{"video_id": v[0], "video": v[1], "faces": v[2]} for v in videos],
    }


def clusters_by_id(conn: psycopg.Connection, ids: Sequence[int], samples: int = 4) -> list[ClusterCard]:
    cards = [_card(r) for r in conn.execute(read_sql("review/clusters_by_id.sql"), {"ids": list(ids)})]
    _add_samples(conn, cards, samples)
    return cards


# --- videos and creators --------------------------------------------------------------------------------------------


def video_detail(conn: psycopg.Connection, video_id: int) -> dict | None:
    """A video: its face scan (or its error), sampled frames, faces and creator tags; None when unknown."""
    v = conn.execute(read_sql("review/video.sql"), {"video_id": video_id}).fetchone()
    if v is None:
        return None
    frames = conn.execute(read_sql("review/video_frames.sql"), {"video_id": video_id}).fetchall()
    faces = video_faces(conn, video_id)
    tags = conn.execute(read_sql("review/video_tags.sql"), {"video_id": video_id}).fetchall()
    return {
        "video_id": v[0],
        "video": v[1],
        "file_path": v[2],
        "is_available": v[3],
        "duration_seconds": None if v[4] is None else float(v[4]),
        "scan": None
        if v[5] is None
        else {
            "status": v[5],
            "frames": v[6],
            "faces": v[7],
            "error": v[8],
            "processed_at": None if v[9] is None else v[9].isoformat(),
        },
        "file_error": v[10],
        "frames": [{"frame_index": f[0], "timestamp": float(f[1]), "width": f[2], "height": f[3]} for f in frames],
        "faces": [f.as_json() for f in faces],
        "tags": [
            {"creator_id": t[0], "creator": t[1], "source": t[2], "confidence": None if t[3] is None else float(t[3])}
            for t in tags
        ],
    }


def video_faces(conn: psycopg.Connection, video_id: int) -> list[Face]:
    return [_face(r) for r in conn.execute(_face_query("video_faces"), {"video_id": video_id})]


def video_exists(conn: psycopg.Connection, video_id: int) -> bool:
    return conn.execute("SELECT 1 FROM videos WHERE id = %s", (video_id,)).fetchone() is not None


def creator_detail(
    conn: psycopg.Connection, creator_id: int, config: RecognitionConfig | None = None, *, limit: int = 200
) -> dict | None:
    """A creator: known faces with their source, tagged videos with the tag's source, pictures that gave no face,
    and videos that may contain them (nearest faces through the HNSW index). None when unknown."""
    c = conn.execute(read_sql("review/creator.sql"), {"id": creator_id}).fetchone()
    if c is None:
        return None
    config = config or RecognitionConfig.load(conn)
    refs = conn.execute(read_sql("review/creator_references.sql"), {"id": creator_id, "limit": limit}).fetchall()
    tagged = conn.execute(read_sql("review/creator_videos.sql"), {"id": creator_id, "limit": limit}).fetchall()
    issues = conn.execute(read_sql("review/creator_issues.sql"), {"id": creator_id}).fetchall()
    return {
        "creator_id": c[0],
        "name": c[1],
        "description": c[2],
        "has_profile_picture": bool(c[3]),
        "references": [
            {
                "embedding_id": r[0],
                "source": _reference_source(r[1], r[2]),
                "source_type": r[1],
                "quality": None if r[3] is None else float(r[3]),
                "created_at": None if r[4] is None else r[4].isoformat(),
                "detection_id": r[5],
                "video_id": r[6],
            }
            for r in refs
        ],
        "videos": [
            {"video_id": t[0], "video": t[1], "source": t[2], "confidence": None if t[3] is None else float(t[3])}
            for t in tagged
        ],
        "issues": [{"picture": _file_name(i[0]), "reason": i[1]} for i in issues],
        "maybe_videos": maybe_videos(conn, creator_id, config.match_threshold),
    }


def _reference_source(source_type: str, source_path: str) -> str:
    if source_type == "profile_picture":
        return "profile picture"
    if source_type == "video_frame":
        return "learned automatically" if source_path.startswith("learned:") else "confirmed face"
    return "reference folder"


def _file_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]  # pages show the file name, not where the server keeps it


def maybe_videos(conn: psycopg.Connection, creator_id: int, similarity: float, limit: int = 50) -> list[dict]:
    """Videos not tagged with the creator whose faces are near the creator's known faces (HNSW)."""
    with conn.transaction():
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(MAYBE_VIDEOS_K),))
        rows = conn.execute(
            read_sql("review/creator_maybe_videos.sql"),
            {
                "id": creator_id,
                "refs": MAYBE_VIDEOS_REFS,
                "k": MAYBE_VIDEOS_K,
                "similarity": similarity,
                "limit": limit,
            },
            prepare=False,
        ).fetchall()
    return [
        {"video_id": r[0], "video": r[1], "similarity": round(float(r[2]), 4), "faces": r[3], "best_detection_id": r[4]}
        for r in rows
    ]


def search_creators(conn: psycopg.Connection, text: str, limit: int = 10) -> list[dict]:
    """Creators whose name contains `text` (autocomplete), names starting with it first."""
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(read_sql("review/search_creators.sql"), {"pattern": pattern, "limit": limit}).fetchall()
    return [{"creator_id": r[0], "name": r[1]} for r in rows]


def failed_videos(conn: psycopg.Connection, limit: int = 50) -> list[dict]:
    rows = conn.execute(read_sql("review/failed_videos.sql"), {"limit": limit}).fetchall()
    return [
        {"video_id": r[0], "video": r[1], "error": r[2], "processed_at": None if r[3] is None else r[3].isoformat()}
        for r in rows
    ]
