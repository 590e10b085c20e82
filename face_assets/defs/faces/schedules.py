"""`rematch_job` and its nightly `rematch_schedule`: re-match undecided faces when creator embeddings changed.

New creator embeddings (a new profile picture, a reference image, a face a person confirmed) can turn a 'pending' or
'unmatched' face into a match, and enough of them into an auto-tag. The job does
face_assets.recognition.matching.rematch_changed: against the high-water mark of creator_face_embeddings stored by
its last run (table recognition_state), it screens the pending/unmatched faces against only the added/changed
embeddings, re-matches exactly those that could change, and refreshes the affected videos' auto-tags. When nothing
changed it does nothing and says so, in the log and in the output metadata (`changed: false`). The schedule checks
the same mark first and skips the tick (SkipReason) when nothing changed, so an idle library runs nothing.

Why an op job and not an asset: the job edits rows that belong to the partitioned `face_matches` asset, in whichever
videos the new embeddings affect, and most nights it does nothing. As an unpartitioned asset it would be a second
owner of the same table in the lineage and record a "materialization" each night even when nothing changed; as a
partitioned one it would have to know the affected partitions before running. An op job is an operation on existing
data: its runs, logs and output metadata say what it did, and `face_matches` stays the one asset that owns matches.

Cron: FACE_ASSETS_REMATCH_CRON [`0 3 * * *`], in FACE_ASSETS_REMATCH_TIMEZONE [UTC].
"""

from dagster import (
    DefaultScheduleStatus,
    OpExecutionContext,
    Output,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    job,
    op,
    schedule,
)

from face_assets import settings
from face_assets.db.retries import DATABASE_RETRY, skip_while_database_unavailable, transient_only
from face_assets.defs.resources import PostgresResource
from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.matching import embedding_snapshot, rematch_changed, stored_snapshot


def rematch_cron() -> str:
    return settings.rematch_cron()


def rematch_timezone() -> str:
    return settings.rematch_timezone()


def _face_tables_exist(conn) -> bool:
    return conn.execute(
        "SELECT to_regclass('creator_face_embeddings') IS NOT NULL AND to_regclass('video_face_detections') IS NOT NULL"
    ).fetchone()[0]


@op(
    retry_policy=DATABASE_RETRY,
    description="Re-match 'pending' and 'unmatched' faces against creator embeddings added or changed since the "
    "last run, and promote matches to auto-tags where the evidence now suffices.",
)
@transient_only()
def rematch_faces(context: OpExecutionContext, database: PostgresResource) -> Output[dict]:
    with database.connect() as conn:
        if not _face_tables_exist(conn):
            message = "the face tables do not exist yet (materialize face_schema); nothing to re-match"
            context.log.info(message)
            return Output({"changed": False}, metadata={"changed": False, "reason": message})
        config = RecognitionConfig.load(conn)
        if not config.enabled:
            message = "face recognition is disabled (face_recognition_config.enabled); nothing re-matched"
            context.log.info(message)
            return Output({"changed": False}, metadata={"changed": False, "reason": message})
        result = rematch_changed(conn, config)
    if not result.changed:
        context.log.info(f"Nothing to re-match: {result.reason}")
    else:
        match = result.match
        context.log.info(
            f"Re-matched ({result.mode}: {result.reason}): {match.faces} faces re-matched of {result.faces_screened} "
            f"screened, {match.proposed} proposed, {match.tags.faces_matched} newly matched, "
            f"{match.tags.tags_added} auto-tags added"
        )
    metadata = result.as_metadata()
    return Output(metadata, metadata=metadata)


@job(description="Re-match undecided faces against new or changed creator embeddings (see rematch_schedule).")
def rematch_job():
    rematch_faces()


@schedule(
    name="rematch_schedule",
    job=rematch_job,
    cron_schedule=rematch_cron(),
    execution_timezone=rematch_timezone(),
    default_status=DefaultScheduleStatus.RUNNING,
    description="Nightly: re-match pending/unmatched faces when creator embeddings were added or changed.",
)
@skip_while_database_unavailable()  # an outage skips the tick, saying so (the next night catches up)
def rematch_schedule(context: ScheduleEvaluationContext, database: PostgresResource):
    with database.connect() as conn:
        if not _face_tables_exist(conn):
            return SkipReason("the face tables do not exist yet (materialize face_schema)")
        current = embedding_snapshot(conn, RecognitionConfig.load(conn))
        previous = stored_snapshot(conn)
    if previous == current:
        return SkipReason(
            f"no creator embedding added, changed or removed since the last rematch ({current.max_changed_at})"
        )
    return RunRequest(tags={"face_assets/rematch_mark": str(current.max_changed_at)})
