"""`face_recognition_stats`: what face recognition found and decided, in numbers (sql/review/stats.sql)."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset
from psycopg.rows import dict_row

from face_assets.defs.automation import refresh_after_new_matches
from face_assets.defs.resources import PostgresResource
from face_assets.db.retries import DATABASE_RETRY, transient_only
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


def recognition_stats(conn) -> dict[str, int]:
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


@asset(
    group_name="face_recognition",
    deps=[AssetKey("face_clusters"), AssetKey("face_matches")],
    kinds={"postgres"},
    retry_policy=DATABASE_RETRY,
    automation_condition=refresh_after_new_matches(),
    description=(
        "Face recognition in numbers: faces by match status, videos processed or not, videos with creators before "
        "(legacy tags) and after, auto-tags, clusters, creators with embeddings."
    ),
)
@transient_only()
def face_recognition_stats(context: AssetExecutionContext, database: PostgresResource) -> MaterializeResult:
    with database.connect() as conn:
        stats = recognition_stats(conn)
    context.log.info(
        f"{stats['detections']} faces, {stats['videos_processed']}/{stats['videos']} videos processed, videos with "
        f"creators {stats['videos_with_creators_before']} -> {stats['videos_with_creators_after']}, "
        f"{stats['auto_tags']} auto-tags, {stats['clusters_open']} open clusters"
    )
    return MaterializeResult(
        metadata={"summary": MetadataValue.md(stats_markdown(stats)), **{k: MetadataValue.int(v) for k, v in stats.items()}}
    )
