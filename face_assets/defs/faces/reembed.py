"""Changing the database's model, as Dagster runs (`face-assets reembed --model NAME` drives them; the logic is
face_assets.recognition.reembed):

- `reembedded_faces` (group `model_change`, partitioned by video like `face_detections`, 50 videos a run in a
  backfill): each video's faces embedded by the new model and staged (`face_embeddings_next`). The asset's partitions
  in the UI show how far the change is; a video already staged for its faces' current places is skipped, so a
  backfill started again resumes. It does nothing without a change in progress (started by `face-assets reembed`,
  which records the target pack in the database: the runs read it there, whatever FACE_ASSETS_MODEL says).
- `model_switch_job`: `switch_to_new_model` (what is left, the creators' pictures, then the switch in one
  transaction) and `refresh_after_model_switch` (calibration from the library's decisions, every undecided face
  matched again, a full clustering run).
"""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    Output,
    asset,
    job,
    op,
)

from face_assets.db.retries import DATABASE_RETRY, transient_only
from face_assets.defs.faces.resources import FaceEngineResource
from face_assets.defs.library.assets import MAX_PARTITIONS_PER_RUN, PartitionOutcomes
from face_assets.defs.library.partitions import video_partitions
from face_assets.defs.resources import PostgresResource
from face_assets.engine.face_engine import FaceEngine
from face_assets.recognition.reembed import (
    Change,
    ReembedIncomplete,
    pending_change,
    progress,
    refresh_after_switch,
    stage_videos,
    switch_model,
    videos_to_embed,
)

MODEL_CHANGE_GROUP = "model_change"
REEMBEDDED_FACES = AssetKey("reembedded_faces")
SWITCH_JOB_NAME = "model_switch_job"
# The new detector only gives the landmarks of faces the old one found (matched by box): a lower score finds more of
# them again, and nothing it finds besides is kept.
REEMBED_DET_THRESHOLD = 0.3
NO_CHANGE = "no change of model is in progress: start one with `face-assets reembed --model NAME`"


def target_engine(face_engine: FaceEngine, change: Change) -> FaceEngine:
    """A FaceEngine of the change's pack, with the configured engine's other settings (providers, sizes, threads)."""
    keep = {
        name: getattr(face_engine, name)
        for name in FaceEngine.model_fields
        if name not in ("model_name", "model_root", "det_threshold")
    }
    return FaceEngine(
        model_name=change.folder, det_threshold=min(face_engine.det_threshold, REEMBED_DET_THRESHOLD), **keep
    )


def _metadata(values: dict[str, Any]) -> dict[str, Any]:
    return {k: MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in values.items() if v is not None}


@asset(
    partitions_def=video_partitions,
    group_name=MODEL_CHANGE_GROUP,
    deps=[AssetKey("face_detections")],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    pool="gpu",
    retry_policy=DATABASE_RETRY,
    kinds={"onnx", "pgvector"},
    description=(
        "During a change of model (`face-assets reembed --model NAME`): each stored face of the video embedded by the "
        "new model, staged in face_embeddings_next until model_switch_job switches the database over. Faces keep "
        "their ids, places and decisions; a video already staged is skipped (a backfill started again resumes)."
    ),
)
@transient_only()
def reembedded_faces(
    context: AssetExecutionContext, database: PostgresResource, face_engine: FaceEngineResource
) -> MaterializeResult:
    outcomes = PartitionOutcomes(context)
    ids = outcomes.video_ids()
    with database.connect() as conn:
        change = pending_change(conn)
        if change is None:
            raise Failure(description=NO_CHANGE, allow_retries=False)
        todo = videos_to_embed(conn, list(ids.values()))
    staged = {}
    if todo:
        engine = target_engine(face_engine, change)
        engine.load()
        with database.connect() as conn:
            staged = {s.video_id: s for s in stage_videos(conn, engine, change, todo, log=context.log.info)}
    with database.connect() as conn:
        done = progress(conn)
    for key, video_id in ids.items():
        result = staged.get(video_id)
        if result is None:
            outcomes.success(key, {"model": change.name, "skipped": "already embedded by the new model"})
        elif result.error:
            outcomes.failure(key, result.error)
        else:
            outcomes.success(
                key,
                {
                    "model": change.name,
                    "faces": result.faces,
                    "landmarks": MetadataValue.json(result.landmarks),
                    "seconds": round(result.seconds, 3),
                },
            )
    context.log.info(
        f"change to {change.name}: {done['embedded']} of {done['faces']} faces embedded, {done['videos_left']} "
        "video(s) left"
    )
    return outcomes.finish()


@op(
    retry_policy=DATABASE_RETRY,
    description="Embed what is left and the creators' pictures with the new model, then switch the database over in "
    "one transaction (faces, known faces, pictures, the model record).",
)
@transient_only()
def switch_to_new_model(
    context: OpExecutionContext, database: PostgresResource, face_engine: FaceEngineResource
) -> Output[dict]:
    with database.connect() as conn:
        change = pending_change(conn)
        if change is None:
            raise Failure(description=NO_CHANGE, allow_retries=False)
        engine = target_engine(face_engine, change)
        engine.load()
        try:
            summary = switch_model(conn, engine, change, log=context.log.info)
        except ReembedIncomplete as exc:
            raise Failure(description=str(exc), allow_retries=False) from exc
    for line in summary.lines():
        context.log.info(line)
    return Output({"model": change.name, "lines": summary.lines()}, metadata=_metadata(summary.as_metadata()))


@op(
    retry_policy=DATABASE_RETRY,
    description="After a switch of model: calibrate from the library's decisions (applied when there are enough), "
    "match every undecided face again, cluster the unknown faces again.",
)
@transient_only()
def refresh_after_model_switch(context: OpExecutionContext, database: PostgresResource, switched: dict) -> Output[dict]:
    with database.connect() as conn:
        summary = refresh_after_switch(conn, switched["model"], connect=database.connect, log=context.log.info)
    for line in summary.lines():
        context.log.info(line)
    return Output({"model": switched["model"], "lines": summary.lines()}, metadata=_metadata(summary.as_metadata()))


@job(
    name=SWITCH_JOB_NAME,
    description="The end of a change of model (`face-assets reembed`): switch the database to the new model, then "
    "re-calibrate, re-match and re-cluster.",
)
def model_switch_job():
    refresh_after_model_switch(switch_to_new_model())
