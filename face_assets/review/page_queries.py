"""What only the review pages read (SQL in sql/pages/); everything the API also shows comes from
face_assets.review.queries, so a page and its API call list the same rows.

Here: the explanation of a whole page of proposals in one query, the reference faces of several creators at once,
the clusters most like a cluster (merge candidates), library files kept out with an error, and the stats by section.
Decisions are not made here: the pages act through the JSON API, which calls face_assets.review.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from face_assets.db.sql_files import read_sql

REFERENCES_SHOWN = 6  # reference faces shown beside a proposal
MERGE_CANDIDATES = 12  # clusters offered for a merge on a cluster's page


def _rows(conn: psycopg.Connection, name: str, params: dict) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(read_sql(f"pages/{name}.sql"), params).fetchall()


def _has_table(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None


def explain_faces(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, dict]:
    """For each face: the reference of its proposed creator it matched best, and the runner-up creator."""
    if not ids:
        return {}
    out = {}
    for row in _rows(conn, "explain_faces", {"ids": list(ids)}):
        row["reference_detection_id"] = detection_of(row.get("reference_type"), row.get("reference_path"))
        row["reference_label"] = reference_label(row.get("reference_type"), row.get("reference_path"))
        out[row["id"]] = row
    return out


def creator_references(
    conn: psycopg.Connection, creator_ids: Sequence[int], per_creator: int = REFERENCES_SHOWN
) -> dict[int, list[dict]]:
    """Up to `per_creator` reference faces of each creator, profile picture first, then best quality."""
    out: dict[int, list[dict]] = {}
    if not creator_ids:
        return out
    for row in _rows(conn, "creator_references", {"ids": list(creator_ids), "per_creator": per_creator}):
        row["detection_id"] = detection_of(row["source_type"], row["source_path"])
        row["label"] = reference_label(row["source_type"], row["source_path"])
        out.setdefault(row["creator_id"], []).append(row)
    return out


# A video face a creator knows: confirmed by a person ('detection:<id>', face_assets.review) or learned from an
# auto-tagged video ('learned:<id>', face_assets.recognition.evidence).
VIDEO_FACE_PREFIXES = {"detection:": "confirmed face", "learned:": "learned face"}


def detection_of(source_type: str | None, source_path: str | None) -> int | None:
    """The video face a 'video_frame' embedding was taken from, else None."""
    path = source_path or ""
    for prefix in VIDEO_FACE_PREFIXES:
        if source_type == "video_frame" and path.startswith(prefix) and path[len(prefix) :].isdigit():
            return int(path[len(prefix) :])
    return None


def reference_label(source_type: str | None, source_path: str | None) -> str:
    """Where a known face came from, in words: profile picture, reference folder, confirmed or learned face."""
    if source_type == "video_frame":
        return next(
            (label for prefix, label in VIDEO_FACE_PREFIXES.items() if (source_path or "").startswith(prefix)),
            "video face",
        )
    return {"profile_picture": "profile picture", "manual": "reference folder"}.get(source_type or "", "reference")


def nearby_clusters(
    conn: psycopg.Connection, cluster_id: int, limit: int = MERGE_CANDIDATES
) -> list[tuple[int, float]]:
    """(cluster id, similarity of the representative faces) of the open clusters most like this one."""
    return [
        (r["id"], float(r["similarity"]))
        for r in _rows(conn, "nearby_clusters", {"cluster_id": cluster_id, "limit": limit})
    ]


def bad_files(conn: psycopg.Connection, limit: int = 50) -> list[dict]:
    if not _has_table(conn, "library_files"):
        return []
    return _rows(conn, "bad_files", {"limit": limit})


def pending_count(conn: psycopg.Connection) -> int:
    """Proposals waiting for a person (the heading of /review)."""
    if not _has_table(conn, "video_face_detections"):
        return 0
    return conn.execute(
        "SELECT count(*) FROM video_face_detections WHERE match_status = 'pending' AND matched_creator_id IS NOT NULL"
    ).fetchone()[0]
