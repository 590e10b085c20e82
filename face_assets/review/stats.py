"""Face recognition in numbers (sql/review/stats.sql): the figures, their labels and sections, as the asset
`face_recognition_stats`, the summary, the stats page and the API show them."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from face_assets.db.sql_files import read_sql

# (section, figure, label) in the order of the Markdown table.
SECTIONS = [
    ("faces", "detections", "faces detected"),
    ("faces", "detections_pending", "pending (not matched yet, or awaiting review)"),
    ("faces", "matches_awaiting_review", "of those, proposed creator awaiting review"),
    ("faces", "detections_matched", "matched (auto-tagged)"),
    ("faces", "detections_unmatched", "unmatched (no creator close enough)"),
    ("faces", "detections_manual", "confirmed or assigned by a person"),
    ("faces", "detections_rejected", "rejected by a person"),
    ("videos", "videos", "videos"),
    ("videos", "videos_available", "available (file present)"),
    ("videos", "videos_processed", "processed by the face engine"),
    ("videos", "videos_with_faces", "processed, with faces"),
    ("videos", "videos_failed", "failed"),
    ("videos", "videos_not_processed", "available, not processed yet"),
    ("tags", "videos_with_creators_before", "videos with creators before (legacy tags only)"),
    ("tags", "videos_with_creators_after", "videos with creators after (any source)"),
    ("tags", "legacy_tags", "legacy tags"),
    ("tags", "auto_tags", "auto-tags (face_recognition)"),
    ("tags", "manual_tags", "tags from review (manual)"),
    ("clusters", "clusters_open", "open clusters of unknown faces"),
    ("clusters", "faces_in_open_clusters", "faces in open clusters"),
    ("clusters", "clusters_named", "named (became creators)"),
    ("clusters", "clusters_merged", "merged"),
    ("clusters", "clusters_dissolved", "dissolved"),
    ("creators", "creators", "creators"),
    ("creators", "creators_with_embeddings", "creators with face embeddings"),
    ("creators", "creator_embeddings", "creator face embeddings"),
    ("creators", "embeddings_from_video_frames", "of those, from confirmed video faces"),
]


def recognition_stats(conn: psycopg.Connection) -> dict[str, int]:
    """Every figure of sql/review/stats.sql, by name."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(read_sql("review/stats.sql")).fetchone()
    return {key: int(value) for key, value in row.items()}


def stats_markdown(stats: dict[str, int]) -> str:
    lines = ["| | figure | count |", "| --- | --- | ---: |"]
    previous = None
    for section, key, label in SECTIONS:
        lines.append(f"| {section if section != previous else ''} | {label} | {stats[key]:,} |")
        previous = section
    return "\n".join(lines)


def stats_sections(stats: dict[str, int]) -> list[tuple[str, list[tuple[str, str, int]]]]:
    """The figures of face_recognition_stats grouped by section, with the asset's own labels."""
    sections: list[tuple[str, list[tuple[str, str, int]]]] = []
    for section, key, label in SECTIONS:
        if key not in stats:
            continue
        if not sections or sections[-1][0] != section:
            sections.append((section, []))
        sections[-1][1].append((key, label, stats[key]))
    return sections
