"""`face_recognition_stats`: what face recognition found and decided, in numbers (sql/review/stats.sql)."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from face_assets.db.retries import DATABASE_RETRY, transient_only
from face_assets.defs.automation import refresh_after_new_matches
from face_assets.defs.resources import PostgresResource
from face_assets.review.stats import recognition_stats, stats_markdown


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
        metadata={
            "summary": MetadataValue.md(stats_markdown(stats)),
            **{k: MetadataValue.int(v) for k, v in stats.items()},
        }
    )
