"""`sampled_frames`: a few frames per video, found by seeking, saved as JPEG and listed in `video_frames`.

Partitioned by video id (`video_partitions`); one run takes many partitions (BackfillPolicy.multi_run) and loops over
`context.partition_keys`. A video that cannot be read fails its own partition only: the failure is recorded in
`video_face_scans` (status 'failed', with the reason), the other videos are committed, and the step raises at the
end naming the failed videos. See `PartitionOutcomes` for how Dagster is told which partitions succeeded.

This module also holds the helpers `face_detections` shares (partition bookkeeping, prefetching, previews).
"""

import base64
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from face_assets import settings
from face_assets.db.dagster_storage import dynamic_partitions_read_once
from face_assets.db.retries import DATABASE_RETRY, transient_only
from face_assets.db.sql_files import read_sql
from face_assets.defs.library.partitions import video_partitions
from face_assets.defs.resources import PostgresResource
from face_assets.recognition.config import RecognitionConfig
from face_assets.review.forget import redact_forgotten
from face_assets.video.frames import SampledFrame, read_frames, sample_timestamps, save_jpeg
from face_assets.video.probe import VideoError, probe

GROUP = "face_recognition"
# Partitions per run when a backfill covers many videos: big enough that the model loads once for many videos,
# small enough that a crash or a retry costs little.
MAX_PARTITIONS_PER_RUN = 50
FRAME_JPEG_QUALITY = 95  # frames are read back by face_detections: keep them close to the decoded image
PREVIEW_THUMBNAIL_WIDTH = 320

T = TypeVar("T")
R = TypeVar("R")


# --- local files ---------------------------------------------------------------------------------


def frames_dir(video_id: int) -> Path:
    """$FACE_ASSETS_HOME/frames/<video_id>/: one `<frame_index>.jpg` per sampled frame."""
    return settings.home() / "frames" / str(video_id)


def previews_dir(video_id: int) -> Path:
    """$FACE_ASSETS_HOME/previews/<video_id>/: the preview images attached to materializations."""
    return settings.home() / "previews" / str(video_id)


def remove_stale_files(folder: Path, keep: Iterable[Path], pattern: str = "*.jpg") -> int:
    """Delete the files in `folder` matching `pattern` that are not in `keep`; the number removed."""
    if not folder.is_dir():
        return 0
    kept = {Path(p).resolve() for p in keep}
    removed = 0
    for path in folder.glob(pattern):
        if path.is_file() and path.resolve() not in kept:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def preview_metadata(image: np.ndarray, path: Path) -> dict[str, MetadataValue]:
    """Save `image` as the preview JPEG at `path`; metadata with its path and a small inline thumbnail."""
    save_jpeg(image, path, quality=90)
    height, width = image.shape[:2]
    scale = min(1.0, PREVIEW_THUMBNAIL_WIDTH / max(width, 1))
    thumb = cv2.resize(image, (max(1, int(width * scale)), max(1, int(height * scale))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", thumb, [int(cv2.IMWRITE_JPEG_QUALITY), 70])
    metadata: dict[str, MetadataValue] = {"preview_path": MetadataValue.path(str(path))}
    if ok:
        encoded = base64.b64encode(data.tobytes()).decode("ascii")
        metadata["preview"] = MetadataValue.md(f"![preview](data:image/jpeg;base64,{encoded})")
    return metadata


# --- partitions ----------------------------------------------------------------------------------


def parse_video_id(partition_key: str) -> int:
    try:
        return int(partition_key)
    except ValueError:
        raise ValueError(f"partition key {partition_key!r} is not a video id") from None


class PartitionOutcomes:
    """Which partitions of a multi-partition step succeeded, which failed and why, told to Dagster properly.

    When every partition succeeded, `finish` returns a MaterializeResult and each partition's materialization
    carries its own metadata (`add_asset_metadata(partition_key=...)`). When some failed, `finish` logs an
    AssetMaterialization for each good partition, then raises a Failure naming the failed ones: the run fails,
    and Dagster marks exactly the failed partitions as failed (planned in a failed run, never materialized), while
    the good ones are materialized. (Dagster 1.13 has no user API to fail single partitions of a step that
    succeeds; this is how its partition status cache tells them apart.)
    """

    def __init__(self, context: AssetExecutionContext):
        self.context = context
        self.succeeded: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, str] = {}
        self._reported = False

    def video_ids(self) -> dict[str, int]:
        """{partition key: video id} of the step's partitions; a key that is no video id fails its partition."""
        ids: dict[str, int] = {}
        for key in self.context.partition_keys:
            try:
                ids[key] = parse_video_id(key)
            except ValueError as exc:
                self.failure(key, str(exc))
        return ids

    def success(self, partition_key: str, metadata: dict[str, Any]) -> None:
        self.succeeded[partition_key] = metadata

    def failure(self, partition_key: str, error: str) -> None:
        self.failed[partition_key] = error
        self.context.log.error(f"video {partition_key}: {error}")

    def report_succeeded(self) -> None:
        """Log a materialization for each good partition (before the step raises)."""
        if self._reported:
            return
        self._reported = True
        for key, metadata in self.succeeded.items():
            self.context.log_event(
                AssetMaterialization(asset_key=self.context.asset_key, partition=key, metadata=metadata)
            )

    def finish(self, fail_partitions: bool = True) -> MaterializeResult:
        """Report the outcomes. With `fail_partitions=False` (steps with a video step after them in the job) a
        failed video does not fail the step: it is recorded (video_face_scans, this step's metadata), the next
        steps still run for the other videos of the batch, and the job's last video step (face_matches) fails
        exactly the failed videos' partitions."""
        done = len(self.succeeded)
        if not self.failed or not fail_partitions:
            with dynamic_partitions_read_once():  # Dagster checks every key against the instance
                for key, metadata in self.succeeded.items():
                    self.context.add_asset_metadata(metadata, partition_key=key)
                for key, error in self.failed.items():
                    self.context.add_asset_metadata({"failed": True, "error": error}, partition_key=key)
            return MaterializeResult()
        self.report_succeeded()
        failed_ids = sorted(self.failed, key=lambda k: (len(k), k))
        lines = "\n".join(f"- video {key}: {self.failed[key]}" for key in failed_ids)
        raise Failure(
            description=(
                f"{len(failed_ids)} of {done + len(failed_ids)} videos failed in {self.context.asset_key.to_user_string()} "
                f"(the other {done} are committed and materialized); failed video ids: {', '.join(failed_ids)}\n{lines}"
            ),
            metadata={"failed_video_ids": MetadataValue.json(failed_ids), "errors": MetadataValue.json(self.failed)},
            allow_retries=False,  # an unreadable file stays unreadable: retrying the step would not help
        )


def prefetched(items: Iterable[T], load: Callable[[T], R]) -> Iterator[tuple[T, R | None, BaseException | None]]:
    """(item, load(item), None) or (item, None, error), in order, loading the next item on a worker thread while
    the caller works on the current one. At most two loaded items exist at a time (the current and the next)."""
    items = list(items)
    if not items:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        pending = pool.submit(load, items[0])
        for i, item in enumerate(items):
            future, pending = pending, None
            try:
                result, error = future.result(), None
            except Exception as exc:  # the caller records it as this item's failure
                result, error = None, exc
            del future
            if i + 1 < len(items):
                pending = pool.submit(load, items[i + 1])
            yield item, result, error
            del result


def record_failure(
    conn: psycopg.Connection,
    video_id: int | None,
    error: str,
    model: str | None = None,
    provider: str | None = None,
) -> None:
    """video_face_scans: status 'failed' with the reason (nothing when the video row does not exist)."""
    if video_id is None:
        return
    with conn.transaction():
        conn.execute(
            read_sql("detections/record_failure.sql"),
            {"video_id": video_id, "error": error, "model": model, "provider": provider},
        )


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, VideoError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# --- the asset -----------------------------------------------------------------------------------


@dataclass
class _VideoFrames:
    video_id: int
    path: str
    duration: float
    frames: list[SampledFrame]
    decode_seconds: float


def _decode(video_id: int, path: str | None, duration: float | None, n: int) -> _VideoFrames:
    if not path:
        raise ValueError(f"video {video_id} has no file_path")
    start = time.perf_counter()
    if duration is None or not duration > 0:
        duration = probe(path).duration_seconds
    frames = read_frames(path, sample_timestamps(float(duration), n))
    return _VideoFrames(video_id, path, float(duration), frames, time.perf_counter() - start)


def _store_frames(conn: psycopg.Connection, video: _VideoFrames) -> list[Path]:
    """Save the JPEGs, then replace the video's `video_frames` rows in one transaction; the paths written."""
    redact_forgotten(conn, video.video_id, video.frames)  # a forgotten person's faces painted out (review.forget)
    folder = frames_dir(video.video_id)
    paths = [save_jpeg(f.image, folder / f"{f.frame_index}.jpg", quality=FRAME_JPEG_QUALITY) for f in video.frames]
    with conn.transaction():
        conn.execute(read_sql("frames/delete_frames.sql"), {"video_id": video.video_id})
        with conn.cursor() as cur, cur.copy(read_sql("frames/copy_frames.sql")) as copy:
            copy.set_types(["int4", "int4", "float8", "text", "int4", "int4", "float4"])
            for frame, path in zip(video.frames, paths):
                copy.write_row(
                    (
                        video.video_id,
                        frame.frame_index,
                        frame.timestamp_seconds,
                        str(path),
                        frame.width,
                        frame.height,
                        frame.sharpness,
                    )
                )
    return paths


@asset(
    partitions_def=video_partitions,
    group_name=GROUP,
    deps=[AssetKey("face_schema")],
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    kinds={"opencv", "postgres"},
    retry_policy=DATABASE_RETRY,
    description=(
        "frames_per_video frames per video at i/(N+1) of its duration (seeking, not decoding it all), saved as JPEG "
        "under $FACE_ASSETS_HOME/frames/<video_id>/ and listed in video_frames. An unreadable video fails its own "
        "partition (recorded in video_face_scans), not the others."
    ),
)
@transient_only()
def sampled_frames(context: AssetExecutionContext, database: PostgresResource) -> MaterializeResult:
    outcomes = PartitionOutcomes(context)
    with database.connect(autocommit=True) as conn:
        config = RecognitionConfig.load(conn)
        ids = outcomes.video_ids()
        rows = {
            row[0]: row
            for row in conn.execute(read_sql("frames/videos_for_partitions.sql"), {"video_ids": list(ids.values())})
        }

        def load(key: str) -> _VideoFrames:
            video_id = ids[key]
            if video_id not in rows:
                raise LookupError(f"no videos row with id {video_id}")
            _, path, duration = rows[video_id]
            return _decode(video_id, path, duration, max(1, config.frames_per_video))

        try:
            for key, video, error in prefetched(list(ids), load):
                video_id = ids[key]
                try:
                    if error is not None:
                        raise error
                    assert video is not None
                    paths = _store_frames(conn, video)
                except Exception as exc:
                    message = describe_error(exc)
                    outcomes.failure(key, message)
                    record_failure(conn, video_id if video_id in rows else None, f"sampled_frames: {message}")
                    continue
                removed = remove_stale_files(frames_dir(video_id), paths)
                frames = video.frames
                middle = frames[len(frames) // 2]
                metadata: dict[str, Any] = {
                    "frames": len(frames),
                    "duration_seconds": round(video.duration, 3),
                    "timestamps": MetadataValue.json([round(f.timestamp_seconds, 3) for f in frames]),
                    "mean_sharpness": round(float(np.mean([f.sharpness for f in frames])), 2),
                    "seconds_per_frame": round(video.decode_seconds / len(frames), 4),
                    "frames_dir": MetadataValue.path(str(frames_dir(video_id))),
                    "stale_files_removed": removed,
                    **preview_metadata(middle.image, previews_dir(video_id) / "sampled_frames.jpg"),
                }
                outcomes.success(key, metadata)
                del video, frames, middle
        except BaseException:
            outcomes.report_succeeded()  # the committed videos still count as materialized
            raise
    context.log.info(
        f"sampled_frames: {len(outcomes.succeeded)} videos done, {len(outcomes.failed)} failed, "
        f"{sum(m['frames'] for m in outcomes.succeeded.values())} frames"
    )
    return outcomes.finish(fail_partitions=False)  # face_matches fails the partitions of unreadable videos
