"""Who is on screen, and when: `timeline_frames` (adaptive sampling) and `face_appearances` (the timeline).

- `timeline_frames` (partitioned by video, in `process_videos` between face_detections and face_matches, pool "gpu"):
  from the first pass's frames and faces, decodes more frames by seeking, where they matter
  (face_assets.video.timeline.sample_adaptively: coarse probes of long gaps, bisection towards each appearance's start
  and end until they are known to FACE_ASSETS_TIMELINE_RESOLUTION seconds, a few frames around doubtful evidence),
  detects their faces and adds them to video_frames and video_face_detections ('pending': face_matches matches them
  with the rest). What each video cost is in video_timeline_scans. Run again on a video that has them, it adds
  nothing (the samples it would ask for are there).
- `face_appearances` (partitioned by video, downstream of face_matches, declarative automation): the faces linked
  into tracks, and per (video, creator or cluster) the intervals they are on screen (face_assets.recognition.timeline).
  A database from before timelines fills in by the automation from the stored faces, without a new scan.
"""

import time
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MaterializeResult, MetadataValue, asset

from face_assets import settings
from face_assets.db.retries import DATABASE_RETRY, transient_only
from face_assets.db.sql_files import read_sql
from face_assets.defs.automation import appearances_after_matches
from face_assets.defs.faces.assets import KeptFace, clip_box, crops_dir, face_crop, face_detections, keep_face
from face_assets.defs.faces.resources import FaceEngineResource, same_model_or_fail
from face_assets.defs.library.assets import (
    FRAME_JPEG_QUALITY,
    GROUP,
    MAX_PARTITIONS_PER_RUN,
    PartitionOutcomes,
    describe_error,
    frames_dir,
)
from face_assets.defs.library.partitions import video_partitions
from face_assets.defs.resources import PostgresResource
from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.model_record import claim_model
from face_assets.recognition.timeline import (
    DoubtJudge,
    VideoFrames,
    ensure_schema,
    load_frames,
    refresh_appearances,
    store_tracks,
)
from face_assets.video.frames import read_frames, save_jpeg
from face_assets.video.probe import VideoError
from face_assets.video.timeline import Face, Sample, Track, build_tracks, sample_adaptively


def samples_of(video: VideoFrames) -> list[Sample]:
    """The stored frames of a video as samples (Sample.key = frame_index, Face.key = detection id)."""
    return [Sample(t, [Face(box, emb, det) for det, box, emb in faces], index) for t, index, faces in video.frames]


def link_tracks(conn, video_ids) -> dict[int, list[Track]]:
    """Link the stored faces of `video_ids` into tracks (face_assets.video.timeline) and store them."""
    videos = load_frames(conn, video_ids)
    found: dict[int, list[Track]] = {}
    rows = []
    for video_id, video in videos.items():
        samples = samples_of(video)
        found[video_id] = build_tracks(samples, video.duration)
        for number, track in enumerate(found[video_id]):
            ids = [samples[si].faces[fi].key for si, fi in track.members]
            rows.append((video_id, number, track.start, track.end, ids))
    store_tracks(conn, videos, rows)
    return found


def compute_appearances(conn, video_ids) -> tuple[int, int]:
    """Tracks, then appearances, of `video_ids` (asset face_appearances): (tracks, appearance rows)."""
    ensure_schema(conn)
    tracks = link_tracks(conn, video_ids)
    rows = refresh_appearances(conn, video_ids)
    return sum(len(t) for t in tracks.values()), rows


class _Collector:
    """`observe` for one video: decode the asked times by seeking, detect, save frames and crops; keeps what it
    found for the video's one write."""

    def __init__(self, face_engine, config: RecognitionConfig, video_id: int, path: str, next_index: int, token: str):
        self.face_engine, self.config, self.video_id, self.path = face_engine, config, video_id, path
        self.next_index, self.token = next_index, token
        self.frames: list[tuple] = []  # video_frames rows
        self.faces: list[KeptFace] = []
        self.crops: list[Path] = []
        self.known: set[int] = set()  # decoded frame numbers (ms), so a seek landing on a known frame adds nothing

    def __call__(self, times) -> list[Sample]:
        try:
            decoded = read_frames(self.path, list(times))
        except VideoError:
            return []
        decoded = [f for f in decoded if round(f.timestamp_seconds * 1000) not in self.known]
        if not decoded:
            return []
        detected = self.face_engine.detect([f.image for f in decoded])
        samples = []
        for frame, found in zip(decoded, detected):
            self.known.add(round(frame.timestamp_seconds * 1000))
            index = self.next_index
            self.next_index += 1
            path = save_jpeg(frame.image, frames_dir(self.video_id) / f"{index}.jpg", quality=FRAME_JPEG_QUALITY)
            self.frames.append(
                (self.video_id, index, frame.timestamp_seconds, str(path), frame.width, frame.height, frame.sharpness)
            )
            faces = []
            for face in found:
                if not keep_face(face, self.config):
                    continue
                box = clip_box(face.bbox, frame.width, frame.height)
                if box[2] < 1 or box[3] < 1:
                    continue
                kept = KeptFace(index, frame.timestamp_seconds, box, face.bbox, face.det_score, face.embedding)
                self.crops.append(
                    save_jpeg(
                        face_crop(frame.image, box),
                        crops_dir(self.video_id) / f"{index}_{len(faces)}_{self.token}.jpg",
                    )
                )
                self.faces.append(kept)
                faces.append(Face(box, face.embedding, len(self.faces) - 1))
            samples.append(Sample(frame.timestamp_seconds, faces, index))
        return samples

    def discard(self) -> None:
        for path in self.crops:
            path.unlink(missing_ok=True)
        for row in self.frames:
            Path(row[3]).unlink(missing_ok=True)


def _write(conn, collector: _Collector, scan: dict[str, Any], model) -> None:
    """The added frames and faces and the scan row of one video, in one transaction."""
    with conn.transaction():
        if model is not None:
            claim_model(conn, model)
        if collector.frames:
            with conn.cursor() as cur, cur.copy(read_sql("frames/copy_frames.sql")) as copy:
                copy.set_types(["int4", "int4", "float8", "text", "int4", "int4", "float4"])
                for row in collector.frames:
                    copy.write_row(row)
        if collector.faces:
            conn.execute(read_sql("detections/create_new_faces.sql"))
            with conn.cursor() as cur, cur.copy(read_sql("detections/copy_new_faces.sql")) as copy:
                copy.set_types(
                    ["int4", "int4", "float4", "float4", "float4", "float4", "float4", "float4", "vector", "text"]
                )
                for ord_, (face, crop) in enumerate(zip(collector.faces, collector.crops)):
                    x, y, w, h = face.box
                    copy.write_row(
                        (
                            ord_,
                            face.frame_index,
                            face.frame_timestamp,
                            x,
                            y,
                            w,
                            h,
                            face.score,
                            face.embedding,
                            str(crop),
                        )
                    )
            conn.execute(read_sql("timeline/insert_faces.sql"), {"video_id": collector.video_id})
        conn.execute(read_sql("timeline/record_scan.sql"), scan)


@asset(
    partitions_def=video_partitions,
    group_name=GROUP,
    deps=[face_detections],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    pool="gpu",
    retry_policy=DATABASE_RETRY,
    kinds={"opencv", "onnx", "postgres"},
    description=(
        "Adaptive sampling: more frames where they matter (long gaps probed, each appearance's start and end bisected "
        "to FACE_ASSETS_TIMELINE_RESOLUTION seconds, a few frames around doubtful evidence), decoded by seeking; "
        "their faces added to video_face_detections for face_matches. The frames each video cost: "
        "video_timeline_scans."
    ),
)
@transient_only()
def timeline_frames(
    context: AssetExecutionContext, database: PostgresResource, face_engine: FaceEngineResource
) -> MaterializeResult:
    outcomes = PartitionOutcomes(context)
    resolution = settings.timeline_resolution()
    token = context.run.run_id.split("-")[0]
    with database.connect(autocommit=True) as conn:
        ensure_schema(conn)
        model_identity = same_model_or_fail(conn, face_engine)
        config = RecognitionConfig.load(conn, model=face_engine.model_name)
        ids = outcomes.video_ids()
        videos = load_frames(conn, ids.values())
        scans = {
            row[0]: row[1]
            for row in conn.execute(read_sql("detections/scans_for_videos.sql"), {"video_ids": list(ids.values())})
        }
        judge = DoubtJudge(conn, config) if config.enabled else None
        face_engine.load()
        total_added = 0
        for key, video_id in ids.items():
            video = videos.get(video_id)
            if video is None or scans.get(video_id) != "processed" or not video.frames or not video.path:
                # Not processed (or failed): face_detections recorded why, face_matches fails the partition.
                outcomes.success(key, {"skipped": "no processed first pass"})
                continue
            start = time.perf_counter()
            samples = samples_of(video)
            first = len(samples)
            next_index = max(int(s.key) for s in samples) + 1
            collector = _Collector(face_engine, config, video_id, video.path, next_index, token)
            collector.known = {round(s.t * 1000) for s in samples}
            try:
                result = sample_adaptively(samples, video.duration, collector, resolution=resolution, doubtful=judge)
                seconds = time.perf_counter() - start
                scan = {
                    "video_id": video_id,
                    "resolution": resolution,
                    "first_pass_frames": first,
                    "added_frames": len(collector.frames),
                    "frames": first + len(collector.frames),
                    "probes": result.probes,
                    "bisections": result.bisections,
                    "doubts": result.doubts,
                    "rounds": result.rounds,
                    "seconds": seconds,
                }
                _write(conn, collector, scan, model_identity)
            except Exception as exc:
                collector.discard()
                outcomes.failure(key, f"timeline_frames: {describe_error(exc)}")
                continue
            total_added += len(collector.frames)
            outcomes.success(
                key,
                {
                    "frames_first_pass": first,
                    "frames_added": len(collector.frames),
                    "faces_added": len(collector.faces),
                    "rounds": result.rounds,
                    "probes": result.probes,
                    "bisections": result.bisections,
                    "doubts": result.doubts,
                    "duration_seconds": round(video.duration, 3),
                    "seconds": round(seconds, 3),
                },
            )
            context.log.info(
                f"video {video_id}: {len(collector.frames)} frames added to {first} in {result.rounds} rounds "
                f"({len(collector.faces)} faces, {seconds:.2f} s)"
            )
    context.log.info(f"timeline_frames: {total_added} frames added over {len(ids)} videos")
    return outcomes.finish(fail_partitions=False)  # face_matches fails the partitions of failed videos


@asset(
    partitions_def=video_partitions,
    group_name=GROUP,
    deps=[AssetKey("face_matches")],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    kinds={"postgres"},
    retry_policy=DATABASE_RETRY,
    automation_condition=appearances_after_matches(),
    description=(
        "Who is on screen, and when: each video's faces linked into tracks (box overlap and embedding similarity), "
        "each track named by its most confident face (a decision, an auto-tag, a proposal, else its cluster), and "
        "per (video, creator or cluster) the intervals on screen. Recomputed for a video when a review decision "
        "changes one of its faces."
    ),
)
@transient_only()
def face_appearances(context: AssetExecutionContext, database: PostgresResource) -> MaterializeResult:
    video_ids = sorted({int(k) for k in context.partition_keys})
    start = time.perf_counter()
    with database.connect() as conn:
        tracks, rows = compute_appearances(conn, video_ids)
        people = conn.execute(
            "SELECT count(DISTINCT (video_id, creator_id, cluster_id)) FROM face_appearances WHERE video_id = ANY(%s)",
            (video_ids,),
        ).fetchone()[0]
    seconds = time.perf_counter() - start
    context.log.info(
        f"face_appearances: {len(video_ids)} videos, {tracks} tracks, {rows} appearances ({seconds:.2f} s)"
    )
    review = settings.review_app_url()
    return MaterializeResult(
        metadata={
            "videos": len(video_ids),
            "tracks": tracks,
            "appearances": rows,
            "people": int(people),
            "seconds": round(seconds, 3),
            **({"video_page": MetadataValue.url(f"{review}/videos/{video_ids[0]}")} if len(video_ids) == 1 else {}),
        }
    )
