"""`face_matches`: each face's nearest creator, statuses for review, and auto-tags (video_creators).

Partitioned by video id like `face_detections`; a backfill run takes up to 50 videos and matches all their faces
at once (face_assets.recognition.matching.match_detections: one exact matrix product, never a query per face).
Review decisions are never overwritten. The rule and thresholds: face_assets.recognition.matching (auto_tag_rule)
and face_assets.recognition_config (MODEL_DEFAULTS).
"""

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MaterializeResult, MetadataValue, asset

from face_assets.partitions import video_partitions
from face_assets.recognition.matching import match_detections
from face_assets.recognition_config import RecognitionConfig
from face_assets.assets.frames import PartitionOutcomes
from face_assets.resources.database import PostgresResource
from face_assets.sql_files import read_sql
from face_assets.retries import DATABASE_RETRY
from face_assets.resources.face_engine import FaceEngine

MAX_PARTITIONS_PER_RUN = 50


@asset(
    retry_policy=DATABASE_RETRY,
    partitions_def=video_partitions,
    group_name="face_recognition",
    deps=[AssetKey("face_detections"), AssetKey("creator_embeddings")],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    kinds={"numpy", "postgres"},
    description=(
        "Each face's nearest creator (exact, all faces of the run in one matrix product), 'pending' for review at "
        ">= match_threshold, 'unmatched' below, and auto-tags in video_creators (source 'face_recognition') where "
        "the evidence over the video's frames passes the per-model rule. Decisions a person made are never "
        "overwritten; a rejected creator is never proposed again for that face."
    ),
)
def face_matches(
    context: AssetExecutionContext, database: PostgresResource, face_engine: FaceEngine
) -> MaterializeResult:
    keys = list(context.partition_keys)
    video_ids = sorted({int(k) for k in keys})
    # face_engine only names the model whose thresholds apply; nothing is loaded.
    with database.connect() as conn:
        config = RecognitionConfig.load(conn, model=face_engine.model_name)
        if not config.enabled:
            context.log.info("face recognition is disabled (face_recognition_config.enabled); nothing matched")
            return MaterializeResult(metadata={"enabled": False, "videos": len(video_ids)})
        summary = match_detections(conn, config, video_ids=video_ids)
        failed = dict(conn.execute(read_sql("detections/failed_videos.sql"), {"video_ids": video_ids}).fetchall())

    context.log.info(
        f"face_matches: {summary.faces} faces of {len(video_ids)} videos against {summary.creator_embeddings} "
        f"creator embeddings in {summary.seconds:.2f} s: {summary.proposed} proposed, "
        f"{summary.tags.faces_matched} newly matched, {summary.tags.tags_added} tags added, "
        f"{summary.tags.tags_removed} removed"
    )
    if failed:  # the job's last video step: here an unreadable video fails its own partition, and only it
        outcomes = PartitionOutcomes(context)
        for key in keys:
            if int(key) in failed:
                outcomes.failure(key, failed[int(key)])
            else:
                outcomes.success(key, {})
        outcomes.finish()
    return MaterializeResult(
        metadata={
            **{k: v for k, v in summary.as_metadata().items() if k != "statuses"},
            "statuses": MetadataValue.json(summary.as_metadata()["statuses"]),
            "model": config.model or "",
            "thresholds": MetadataValue.json({
                "match_threshold": config.match_threshold,
                "auto_tag_threshold": config.auto_tag_threshold,
                "auto_tag_min_frames": config.auto_tag_min_frames,
                "auto_tag_margin": config.auto_tag_margin,
            }),
            "auto_tags": MetadataValue.json(
                [{"video_id": v, "creator_id": c, "confidence": round(s, 4)} for v, c, s in summary.tags.tagged][:500]
            ),
        }
    )
