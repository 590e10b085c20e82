"""`face_schema`: the face recognition tables, pgvector indexes and seeded configuration (sql/face/schema.sql)."""


from dagster import AssetExecutionContext, MaterializeResult, asset

from face_assets.assets.legacy_migration import legacy_key
from face_assets.resources.database import PostgresResource
from face_assets.retries import DATABASE_RETRY
from face_assets.sql_files import run_sql_file

# The face tables reference these; on a fresh install without a legacy database they are created empty.
_REFERENCED_LEGACY_TABLES = ("watched_directories", "videos", "creators", "video_creators")


@asset(
    group_name="face_recognition",
    deps=[legacy_key(t) for t in ("videos", "creators", "video_creators")],
    kinds={"postgres", "pgvector"},
    retry_policy=DATABASE_RETRY,
    description="Face tables (creator_face_embeddings, video_face_detections, ...), HNSW indexes, configuration.",
)
def face_schema(context: AssetExecutionContext, database: PostgresResource) -> MaterializeResult:
    with database.connect() as conn:
        for table in _REFERENCED_LEGACY_TABLES:
            run_sql_file(conn, f"legacy/{table}.sql")
        run_sql_file(conn, "face/schema.sql")
        config = dict(conn.execute("SELECT key, value FROM face_recognition_config ORDER BY key").fetchall())
    return MaterializeResult(metadata={"face_recognition_config": config})
