"""Non-blocking checks where face data can go wrong unseen. Each reads only the rows of the run's videos (or, for
clusters, the open clusters), so a 50-video run checks 50 videos, not the library. They warn; they do not stop the
job (the blocking checks are the migration's). A database outage does not fail them either: they retry as the asset
steps do, and on the last attempt report "could not run: database unavailable" (face_assets.db.retries)."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from face_assets.db.retries import DATABASE_RETRY, report_if_database_unavailable
from face_assets.db.sql_files import read_sql
from face_assets.defs.faces.assets import face_clusters, face_detections, face_matches
from face_assets.defs.library.assets import parse_video_id
from face_assets.defs.library.partitions import video_partitions
from face_assets.defs.resources import PostgresResource

UNIT_NORM_TOLERANCE = 1e-3  # float32 embeddings normalised by the engine are within ~1e-6 of 1
MAX_LISTED = 20


def _video_ids(context: AssetCheckExecutionContext) -> list[int]:
    ids = []
    for key in context.partition_keys:
        try:
            ids.append(parse_video_id(key))
        except ValueError:
            continue  # the asset step already failed that partition and said why
    return ids


def _result(bad: list, what: str) -> AssetCheckResult:
    return AssetCheckResult(
        passed=not bad,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(bad)} {what}" if bad else None,
        metadata={"count": len(bad), "first": [list(r) if isinstance(r, tuple) else r for r in bad[:MAX_LISTED]]},
    )


@asset_check(
    asset=face_detections,
    partitions_def=video_partitions,
    blocking=False,
    retry_policy=DATABASE_RETRY,
    description="Every face of the run's videos has a 512-d unit-norm embedding.",
)
@report_if_database_unavailable()
def embeddings_unit_512(context: AssetCheckExecutionContext, database: PostgresResource) -> AssetCheckResult:
    with database.connect() as conn:
        bad, first_id, wrong_dims, not_unit = conn.execute(
            read_sql("checks/embeddings_not_unit_512.sql"),
            {"video_ids": _video_ids(context), "tolerance": UNIT_NORM_TOLERANCE},
        ).fetchone()
    return AssetCheckResult(
        passed=bad == 0,
        severity=AssetCheckSeverity.WARN,
        description=f"{bad} faces with a bad embedding (first id {first_id})" if bad else None,
        metadata={"bad": bad, "wrong_dims": wrong_dims, "not_unit": not_unit, "tolerance": UNIT_NORM_TOLERANCE},
    )


@asset_check(
    asset=face_detections,
    partitions_def=video_partitions,
    blocking=False,
    retry_policy=DATABASE_RETRY,
    description="Every video of the run with frames or faces has its video_face_scans row.",
)
@report_if_database_unavailable()
def processed_videos_have_scans(context: AssetCheckExecutionContext, database: PostgresResource) -> AssetCheckResult:
    with database.connect() as conn:
        bad = [
            r[0] for r in conn.execute(read_sql("checks/videos_without_scan.sql"), {"video_ids": _video_ids(context)})
        ]
    return _result(bad, "videos with frames or faces but no scan row")


@asset_check(
    asset=face_matches,
    partitions_def=video_partitions,
    blocking=False,
    retry_policy=DATABASE_RETRY,
    description="Every auto-tag of the run's videos has matched faces of that creator behind it.",
)
@report_if_database_unavailable()
def auto_tags_have_evidence(context: AssetCheckExecutionContext, database: PostgresResource) -> AssetCheckResult:
    with database.connect() as conn:
        bad = conn.execute(
            read_sql("checks/auto_tags_without_evidence.sql"), {"video_ids": _video_ids(context)}
        ).fetchall()
    return _result(bad, "auto-tags (video, creator) without a matched face")


@asset_check(
    asset=face_clusters,
    blocking=False,
    retry_policy=DATABASE_RETRY,
    description="No face a person gave a creator sits in an open cluster of unknown faces.",
)
@report_if_database_unavailable()
def no_decided_face_in_open_cluster(
    context: AssetCheckExecutionContext, database: PostgresResource
) -> AssetCheckResult:
    with database.connect() as conn:
        bad = conn.execute(read_sql("checks/decided_faces_in_open_clusters.sql")).fetchall()
    return _result(bad, "decided faces in open clusters (first 100 listed at most)")
