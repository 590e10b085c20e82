"""`creator_embeddings`: a face embedding per creator profile picture and reference image (creator_face_embeddings).

The logic is face_assets.recognition.embeddings.sync_creator_embeddings; this module is the Dagster wrapper.
`creator_pictures_sensor` (face_assets/picture_sensor.py) requests a run when pictures change.
"""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from face_assets.recognition.embeddings import Issue, reference_root, sync_creator_embeddings
from face_assets.resources.database import PostgresResource
from face_assets.retries import DATABASE_RETRY
from face_assets.resources.face_engine import FaceEngine

CREATOR_EMBEDDINGS = AssetKey("creator_embeddings")
MAX_ISSUES_IN_METADATA = 200


@asset(
    retry_policy=DATABASE_RETRY,
    group_name="face_recognition",
    deps=[AssetKey("face_schema")],
    pool="gpu",
    kinds={"onnx", "pgvector"},
    description=(
        "One embedding per creator profile picture (source_type 'profile_picture') and per image under "
        "$FACE_ASSETS_HOME/reference/<creator id>/ ('manual'): the picture's best face (largest box x score). "
        "Unchanged pictures are skipped by fingerprint (model, size, mtime, sha256); stale rows are removed; "
        "'video_frame' rows are never touched. Problems per picture go to creator_embedding_issues."
    ),
)
def creator_embeddings(
    context: AssetExecutionContext, database: PostgresResource, face_engine: FaceEngine
) -> MaterializeResult:
    with database.connect() as conn:
        summary = sync_creator_embeddings(conn, face_engine, log=context.log.info)
        totals = dict(
            conn.execute(
                "SELECT source_type, count(*) FROM creator_face_embeddings GROUP BY source_type ORDER BY 1"
            ).fetchall()
        )
        creators = conn.execute("SELECT count(DISTINCT creator_id) FROM creator_face_embeddings").fetchone()[0]

    for issue in summary.issues[:20]:
        context.log.warning(f"creator {issue.creator_id}: {issue.source_path}: {issue.reason}")
    if len(summary.issues) > 20:
        context.log.warning(f"... and {len(summary.issues) - 20} more picture problems (see the metadata)")
    context.log.info(
        f"creator_embeddings: {summary.embedded} new, {summary.replaced} replaced, {summary.unchanged} unchanged, "
        f"{summary.deleted} deleted, {len(summary.issues)} problems"
    )
    return MaterializeResult(
        metadata={
            **summary.as_metadata(),
            "embeddings_by_source_type": MetadataValue.json(totals),
            "creators_with_embeddings": int(creators),
            "reference_root": str(reference_root()),
            "model": face_engine.model_name,
            "issue_list": MetadataValue.md(_issues_markdown(summary.issues)),
        }
    )


def _issues_markdown(issues: list[Issue]) -> str:
    if not issues:
        return "No problems."
    lines = ["| creator | picture | reason |", "| --- | --- | --- |"]
    for issue in issues[:MAX_ISSUES_IN_METADATA]:
        creator = "" if issue.creator_id is None else str(issue.creator_id)
        lines.append(f"| {creator} | {issue.source_path.replace('|', '/')} | {issue.reason} |")
    if len(issues) > MAX_ISSUES_IN_METADATA:
        lines.append(f"| | ... {len(issues) - MAX_ISSUES_IN_METADATA} more | |")
    return "\n".join(lines)
