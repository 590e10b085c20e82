"""Faces: the face tables, creator embeddings, detections per video, matches and auto-tags, clusters of unknown faces.

Asset group `face_recognition`. The plain logic these call lives in face_assets.recognition, face_assets.video and
the sql/ folders; each section below is one asset with what it does and why."""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psycopg
from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Failure, MaterializeResult, MetadataValue, asset

from face_assets import settings
from face_assets.db.retries import DATABASE_RETRY, transient_only
from face_assets.db.schema_upgrade import describe, upgrade
from face_assets.db.sql_files import read_sql
from face_assets.defs.automation import refresh_after_new_matches
from face_assets.defs.faces.resources import FaceEngineResource, same_model_or_fail
from face_assets.defs.library.assets import (
    GROUP,
    MAX_PARTITIONS_PER_RUN,
    PartitionOutcomes,
    describe_error,
    prefetched,
    preview_metadata,
    previews_dir,
    record_failure,
    remove_stale_files,
    sampled_frames,
)
from face_assets.defs.library.partitions import video_partitions
from face_assets.defs.migration.assets import legacy_key
from face_assets.defs.resources import PostgresResource
from face_assets.engine.face_engine import DetectedFace
from face_assets.recognition.cluster_proposals import propose
from face_assets.recognition.clustering import cluster_faces
from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.embeddings import Issue, reference_root, sync_creator_embeddings
from face_assets.recognition.matching import match_detections
from face_assets.recognition.model_record import ModelIdentity, ModelMismatch, claim_model
from face_assets.recognition.timeline import refresh_cluster_appearances
from face_assets.review.forget import drop_forgotten_faces
from face_assets.video.frames import draw_boxes, save_jpeg

# ---------------------------------------------------------------------------------------------
# `face_schema`: the application schema at this code's version (face_assets.db.schema_upgrade: the baseline files,
# then sql/upgrades/), with the face recognition tables, pgvector indexes and seeded configuration.


@asset(
    group_name="face_recognition",
    deps=[legacy_key(t) for t in ("videos", "creators", "video_creators")],
    kinds={"postgres", "pgvector"},
    retry_policy=DATABASE_RETRY,
    description="Face tables (creator_face_embeddings, video_face_detections, ...), HNSW indexes, configuration.",
)
@transient_only()
def face_schema(context: AssetExecutionContext, database: PostgresResource) -> MaterializeResult:
    with database.connect() as conn:
        # After this asset every reader (the review app, the CLI) finds every table, whichever step ran first.
        applied = upgrade(conn)
        schema = describe(conn)
        config = dict(conn.execute("SELECT key, value FROM face_recognition_config ORDER BY key").fetchall())
    return MaterializeResult(
        metadata={"face_recognition_config": config, "schema_version": schema["version"], "upgrades_applied": applied}
    )


# ---------------------------------------------------------------------------------------------
# `creator_embeddings`: a face embedding per creator profile picture and reference image (creator_face_embeddings).
#
# The logic is face_assets.recognition.embeddings.sync_creator_embeddings; this module is the Dagster wrapper.
# `creator_pictures_sensor` (face_assets/defs/faces/sensors.py) requests a run when pictures change.

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
@transient_only()
def creator_embeddings(
    context: AssetExecutionContext, database: PostgresResource, face_engine: FaceEngineResource
) -> MaterializeResult:
    with database.connect() as conn:
        same_model_or_fail(conn, face_engine)  # another model than the database's: one line, before any picture
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


# ---------------------------------------------------------------------------------------------
# `face_detections`: the faces in each video's sampled frames, with 512-d embeddings, in `video_face_detections`.
#
# Partitioned by video id like `sampled_frames`; one run takes many partitions and the model is loaded once per
# process (FaceEngine caches its ONNX sessions). The step runs in the concurrency pool "gpu". While the engine works
# on one video, the next video's frames are read on a worker thread; at most two videos' frames are in memory.
#
# Per video, in one transaction: the new detections are COPYed into a temporary table; a new detection of the same
# face as an old row (same frame, IoU > 0.5) updates that row in place, so the face keeps its id, cluster, match and
# review decision (sql/detections/replace_detections.sql); other old rows are deleted, other new ones inserted; and
# `video_face_scans` records the outcome ('processed' with faces = 0 when there are none). A video that fails (no
# frames, unreadable frame files) is recorded there; face_matches, the job's last video step, fails its partition.

CROP_MARGIN = 0.2  # crops show this fraction of the box's size around it on each side (hair, chin)


def crops_dir(video_id: int) -> Path:
    """$FACE_ASSETS_HOME/crops/<video_id>/: one JPEG per detection."""
    return settings.home() / "crops" / str(video_id)


@dataclass(frozen=True)
class FrameRow:
    frame_index: int
    timestamp_seconds: float
    path: str
    width: int
    height: int


@dataclass
class KeptFace:
    frame_index: int
    frame_timestamp: float
    box: tuple[float, float, float, float]  # x, y, width, height in pixels of the frame, clipped to it
    raw_bbox: tuple[float, float, float, float]  # x1, y1, x2, y2 as the detector gave it
    score: float
    embedding: np.ndarray


def keep_face(face: DetectedFace, config: RecognitionConfig) -> bool:
    """Big and confident enough: shorter side of the (unclipped) box >= min_face_size, score >= min_detection_score."""
    x1, y1, x2, y2 = face.bbox
    return min(x2 - x1, y2 - y1) >= config.min_face_size and face.det_score >= config.min_detection_score


def clip_box(bbox: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    """x1, y1, x2, y2 (possibly outside the frame) -> x, y, w, h inside a width x height frame."""
    x1, y1, x2, y2 = bbox
    x1, x2 = min(max(x1, 0.0), float(width)), min(max(x2, 0.0), float(width))
    y1, y2 = min(max(y1, 0.0), float(height)), min(max(y2, 0.0), float(height))
    return x1, y1, max(x2 - x1, 0.0), max(y2 - y1, 0.0)


def face_crop(image: np.ndarray, box: tuple[float, float, float, float], margin: float = CROP_MARGIN) -> np.ndarray:
    """The face box with `margin` of its size around it, clipped to the image."""
    height, width = image.shape[:2]
    x, y, w, h = box
    x1 = int(max(0, np.floor(x - margin * w)))
    y1 = int(max(0, np.floor(y - margin * h)))
    x2 = int(min(width, np.ceil(x + w + margin * w)))
    y2 = int(min(height, np.ceil(y + h + margin * h)))
    return image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]


def _read_frames(rows: list[FrameRow]) -> list[np.ndarray]:
    images = []
    for row in rows:
        image = cv2.imread(row.path, cv2.IMREAD_COLOR) if Path(row.path).is_file() else None
        if image is None:
            raise FileNotFoundError(
                f"frame file {row.path} is missing or unreadable; re-materialize sampled_frames for this video"
            )
        images.append(image)
    return images


def _write_detections(
    conn: psycopg.Connection,
    video_id: int,
    faces: list[KeptFace],
    crop_paths: list[Path],
    scan: dict[str, Any],
    model: ModelIdentity | None = None,
) -> tuple[int, int, int]:
    """Replace the video's detections (carrying review decisions over) and record the scan, in one transaction;
    `model`: the pack the embeddings came from, recorded as the database's first (or ModelMismatch)."""
    with conn.transaction():
        if model is not None:
            claim_model(conn, model)  # first: a switch of model waits for this write, and the next write sees it
        conn.execute(read_sql("detections/create_new_faces.sql"))
        with conn.cursor() as cur, cur.copy(read_sql("detections/copy_new_faces.sql")) as copy:
            copy.set_types(
                ["int4", "int4", "float4", "float4", "float4", "float4", "float4", "float4", "vector", "text"]
            )
            for ord_, (face, crop) in enumerate(zip(faces, crop_paths)):
                x, y, w, h = face.box
                copy.write_row(
                    (ord_, face.frame_index, face.frame_timestamp, x, y, w, h, face.score, face.embedding, str(crop))
                )
        # Faces where a forgotten person was (face_assets.review.forget) are never stored again, nor their crops.
        forgotten = drop_forgotten_faces(conn, video_id)
        for path in forgotten:
            Path(path).unlink(missing_ok=True)
        inserted, carried, dropped = conn.execute(
            read_sql("detections/replace_detections.sql"), {"video_id": video_id}
        ).fetchone()
        scan = {**scan, "faces": scan["faces"] - len(forgotten)}
        conn.execute(read_sql("detections/record_processed.sql"), {"video_id": video_id, **scan})
    return int(inserted), int(carried), int(dropped)


@asset(
    partitions_def=video_partitions,
    group_name=GROUP,
    deps=[sampled_frames],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    pool="gpu",
    retry_policy=DATABASE_RETRY,
    kinds={"onnx", "pgvector"},
    description=(
        "Faces in each video's sampled frames (InsightFace: SCRFD + ArcFace, 512-d unit embeddings) in "
        "video_face_detections, with a crop per face under $FACE_ASSETS_HOME/crops/<video_id>/. Faces smaller than "
        "min_face_size or below min_detection_score are dropped. Review decisions survive re-detection. "
        "video_face_scans records each video's outcome ('processed' with 0 faces is not 'not processed')."
    ),
)
@transient_only()
def face_detections(
    context: AssetExecutionContext, database: PostgresResource, face_engine: FaceEngineResource
) -> MaterializeResult:
    outcomes = PartitionOutcomes(context)
    with database.connect() as conn:
        model_identity = same_model_or_fail(conn, face_engine)  # another model than the database's: one line
    face_engine.load()  # an unusable model fails the step at once, not video by video
    provider = face_engine.active_providers[0]
    model = face_engine.model_name
    token = context.run.run_id.split("-")[
        0
    ]  # crop file names are unique per run: committed rows never see a half-written set

    with database.connect(autocommit=True) as conn:
        config = RecognitionConfig.load(conn, model=model)
        ids = outcomes.video_ids()
        frame_rows: dict[int, list[FrameRow]] = {video_id: [] for video_id in ids.values()}
        for video_id, *fields in conn.execute(
            read_sql("detections/frames_for_videos.sql"), {"video_ids": list(ids.values())}
        ):
            frame_rows[video_id].append(FrameRow(*fields))
        scans = {
            row[0]: (row[1], row[2])
            for row in conn.execute(read_sql("detections/scans_for_videos.sql"), {"video_ids": list(ids.values())})
        }
        known_videos = {
            row[0]
            for row in conn.execute(read_sql("frames/videos_for_partitions.sql"), {"video_ids": list(ids.values())})
        }

        def load(key: str) -> list[np.ndarray]:
            rows = frame_rows[ids[key]]
            return _read_frames(rows) if rows else []

        engine_seconds = 0.0
        engine_frames = 0
        # The engine works ahead: while this loop stores one video's faces, the next videos' frames are detected
        # (FaceEngine.detect_stream); only videos that can be processed are given to it.
        stream = face_engine.detect_stream(
            prefetched(list(ids), load),
            images=lambda item: item[1] if item[2] is None and ids[item[0]] in known_videos else None,
        )
        last = time.perf_counter()
        try:
            for (key, images, error), detected in stream:
                video_id = ids[key]
                rows = frame_rows[video_id]
                if video_id not in known_videos:
                    outcomes.failure(key, f"no videos row with id {video_id}")
                    continue
                if error is not None:
                    message = f"face_detections: {describe_error(error)}"
                    outcomes.failure(key, message)
                    record_failure(conn, video_id, message, model, provider)
                    continue
                if not rows:
                    status, previous = scans.get(video_id, (None, None))
                    if status == "failed" and previous:
                        outcomes.failure(key, f"no sampled frames ({previous})")  # keep the recorded reason
                    else:
                        message = "face_detections: no sampled frames; materialize sampled_frames for this video first"
                        outcomes.failure(key, message)
                        record_failure(conn, video_id, message, model, provider)
                    continue
                assert images is not None

                # The engine's results come outside the per-video error handling on purpose: an inference error is
                # a problem of the engine (driver, memory), not of this video, so it stops the step. `elapsed`: the
                # step's time per video (engine and storing overlap), since the previous video's faces came.
                now = time.perf_counter()
                elapsed, last = now - last, now
                engine_seconds += elapsed
                engine_frames += len(images)

                crop_paths: list[Path] = []
                try:
                    faces: list[KeptFace] = []
                    for row, image, found in zip(rows, images, detected):
                        for face in found:
                            if not keep_face(face, config):
                                continue
                            box = clip_box(face.bbox, image.shape[1], image.shape[0])
                            if box[2] < 1 or box[3] < 1:
                                continue  # entirely outside the frame
                            kept = KeptFace(
                                row.frame_index, row.timestamp_seconds, box, face.bbox, face.det_score, face.embedding
                            )
                            crop_paths.append(
                                save_jpeg(
                                    face_crop(image, box),
                                    crops_dir(video_id) / f"{row.frame_index}_{len(faces)}_{token}.jpg",
                                )
                            )
                            faces.append(kept)
                    scan = {
                        "frames": len(images),
                        "faces": len(faces),
                        "model": model,
                        "provider": provider,
                        "seconds_per_frame": elapsed / len(images),
                    }
                    _inserted, carried, dropped = _write_detections(
                        conn, video_id, faces, crop_paths, scan, model_identity
                    )
                except ModelMismatch as exc:  # the database switched models during the run: stop, record nothing
                    for path in crop_paths:
                        path.unlink(missing_ok=True)
                    raise Failure(description=str(exc), allow_retries=False) from None
                except Exception as exc:
                    for path in crop_paths:
                        path.unlink(missing_ok=True)
                    message = f"face_detections: {describe_error(exc)}"
                    outcomes.failure(key, message)
                    record_failure(conn, video_id, message, model, provider)
                    continue
                remove_stale_files(crops_dir(video_id), crop_paths)
                if dropped:
                    context.log.warning(
                        f"video {video_id}: {dropped} review decision(s) found no matching face after re-detection"
                    )

                # Preview: the frame with the most faces, boxes drawn with their scores.
                best = max(range(len(images)), key=lambda i: sum(f.frame_index == rows[i].frame_index for f in faces))
                on_best = [f for f in faces if f.frame_index == rows[best].frame_index]
                preview = draw_boxes(
                    images[best],
                    [(x, y, x + w, y + h) for x, y, w, h in (f.box for f in on_best)],
                    labels=[f"{f.score:.2f}" for f in on_best],
                )
                metadata: dict[str, Any] = {
                    "frames": len(images),
                    "faces": len(faces),
                    "faces_per_frame": MetadataValue.json(
                        [sum(f.frame_index == r.frame_index for f in faces) for r in rows]
                    ),
                    "provider": provider,
                    "model": model,
                    "seconds_per_frame": round(elapsed / len(images), 4),
                    "decisions_carried_over": carried,
                    "decisions_dropped": dropped,
                    **preview_metadata(preview, previews_dir(video_id) / "face_detections.jpg"),
                }
                outcomes.success(key, metadata)
                context.log.info(
                    f"video {video_id}: {len(faces)} faces in {len(images)} frames ({elapsed / len(images):.3f} s/frame)"
                )
                del images, detected, preview
        except BaseException:
            outcomes.report_succeeded()  # the committed videos still count as materialized
            raise

    if engine_frames:
        context.log.info(
            f"face_detections on {provider}: {engine_frames} frames, {engine_seconds / engine_frames:.3f} s/frame"
        )
    return outcomes.finish(fail_partitions=False)  # face_matches fails the partitions of failed videos


# ---------------------------------------------------------------------------------------------
# `face_matches`: each face's nearest creator, statuses for review, and auto-tags (video_creators).
#
# Partitioned by video id like `face_detections`; a backfill run takes up to 50 videos and matches all their faces
# at once (face_assets.recognition.matching.match_detections: one exact matrix product, never a query per face).
# Review decisions are never overwritten. The rule and thresholds: face_assets.recognition.matching (auto_tag_rule)
# and face_assets.recognition.config (MODEL_DEFAULTS).


@asset(
    retry_policy=DATABASE_RETRY,
    partitions_def=video_partitions,
    group_name="face_recognition",
    deps=[AssetKey("face_detections"), AssetKey("timeline_frames"), AssetKey("creator_embeddings")],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    kinds={"numpy", "postgres"},
    description=(
        "Each face's nearest creator (exact, all faces of the run in one matrix product), 'pending' for review at "
        ">= match_threshold, 'unmatched' below, and auto-tags in video_creators (source 'face_recognition') where "
        "the evidence over the video's frames passes the per-model rule. Decisions a person made are never "
        "overwritten; a rejected creator is never proposed again for that face."
    ),
)
@transient_only()
def face_matches(
    context: AssetExecutionContext, database: PostgresResource, face_engine: FaceEngineResource
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
    review = settings.review_app_url()
    return MaterializeResult(
        metadata={
            "review_queue": MetadataValue.url(f"{review}/review"),
            **({"video_page": MetadataValue.url(f"{review}/videos/{video_ids[0]}")} if len(video_ids) == 1 else {}),
            **{k: v for k, v in summary.as_metadata().items() if k != "statuses"},
            "statuses": MetadataValue.json(summary.as_metadata()["statuses"]),
            "model": config.model or "",
            "thresholds": MetadataValue.json(
                {
                    "match_threshold": config.match_threshold,
                    "auto_tag_threshold": config.auto_tag_threshold,
                    "auto_tag_min_frames": config.auto_tag_min_frames,
                    "auto_tag_margin": config.auto_tag_margin,
                    "auto_tag_max_false_rate": config.auto_tag_max_false_rate,
                    "evidence_frame_correlation": config.evidence_frame_correlation,
                }
            ),
            "auto_tags": MetadataValue.json(
                [{"video_id": v, "creator_id": c, "confidence": round(s, 4)} for v, c, s in summary.tags.tagged][:500]
            ),
        }
    )


# ---------------------------------------------------------------------------------------------
# `face_clusters`: recurring unknown faces grouped into candidate creators (face_assets.recognition.clustering).
#
# Unpartitioned: it clusters the unknown faces of all videos at once, after the matches (a face without a confirmed,
# auto-tagged or proposed creator is unknown). Cluster ids are stable from run to run; named and merged clusters
# (decisions made with `face-assets review cluster ...`) are never touched. A person turns a cluster into a creator
# with `face-assets review cluster name CLUSTER "Name"`.

TOP_CLUSTERS = 20  # listed in the materialization's metadata


@asset(
    group_name="face_recognition",
    deps=[AssetKey("face_matches")],
    kinds={"postgres", "pgvector"},
    retry_policy=DATABASE_RETRY,
    automation_condition=refresh_after_new_matches(),
    description=(
        "Clusters of unknown faces (no confirmed, auto-tagged or proposed creator) across all videos: DBSCAN-like "
        "over each face's nearest neighbours found through the HNSW index (cluster_similarity, cluster_min_faces), "
        "after quality gates (size, detection score, blur). Ids stay stable between runs (greedy majority overlap); "
        "clusters without a successor are 'dissolved'; named and merged clusters are never touched."
    ),
)
@transient_only()
def face_clusters(context: AssetExecutionContext, database: PostgresResource) -> MaterializeResult:
    with database.connect() as conn:
        result = cluster_faces(conn, connect=database.connect, log=context.log.info)
        # "Is this cluster creator X?" and "are these two clusters one person?": review items, never decisions.
        proposals = propose(conn)
        refresh_cluster_appearances(conn)  # the timelines name unknown people by their clusters
        top = conn.execute(
            read_sql("clusters/list_clusters.sql"), {"statuses": ["open"], "limit": TOP_CLUSTERS}
        ).fetchall()

    table = ["| cluster | faces | videos | representative crop |", "| ---: | ---: | ---: | --- |"]
    table += [f"| {r[0]} | {r[2]} | {r[3]} | {r[5] or ''} |" for r in top]
    config = result.config
    return MaterializeResult(
        metadata={
            "clusters": result.clusters,
            "clustered_faces": result.clustered_faces,
            "unclustered_faces": result.unclustered_faces,
            "unknown_faces": result.unknown_faces,
            "candidates": result.candidates,
            "gated_out": MetadataValue.json(result.gated),
            "neighbour_pairs": result.edges,
            "neighbour_search": result.method,
            "kept_ids": len(result.kept_ids),
            "new_clusters": len(result.new_ids),
            "dissolved_clusters": len(result.dissolved_ids),
            "faces_moved": result.faces_moved,
            "proposed_as_creator": len(proposals.creator),
            "proposed_merges": len(proposals.merge),
            "seconds": MetadataValue.json({k: round(v, 3) for k, v in result.seconds.items()}),
            "config": MetadataValue.json({k: getattr(config, k) for k in config.KEYS}),
            "largest_clusters": MetadataValue.md("\n".join(table)),
            "review_people": MetadataValue.url(f"{settings.review_app_url()}/people"),
        }
    )
