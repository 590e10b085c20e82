"""Frame sampling: seek to a few timestamps of a video instead of decoding all of it, and small image helpers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from dagster import get_dagster_logger

from face_assets.video.probe import PathLike, VideoError, open_capture

log = get_dagster_logger(__name__)

# A seek may land this many frames away from the target before we say so; FFmpeg's seeks in OpenCV are
# frame-accurate on the fixtures (checked against a full decode), so this only catches broken indexes.
_SEEK_TOLERANCE_FRAMES = 1
# When a seek lands before the target we decode forward to it, but never more than this many frames.
_MAX_CATCH_UP_FRAMES = 600


@dataclass(frozen=True, eq=False)
class SampledFrame:
    frame_index: int  # position among the requested timestamps, 0..n-1 (gaps where a frame was skipped)
    timestamp_seconds: float  # time of the frame actually decoded (within a frame of the one asked for)
    image: np.ndarray  # BGR, uint8, height x width x 3
    width: int
    height: int
    sharpness: float  # variance of the Laplacian of the grey image: low means blurred


def sample_timestamps(duration: float, n: int) -> list[float]:
    """`n` evenly spread times, at i/(n+1) of the duration for i = 1..n: never the first or last frame,
    which are often black, a title card or a fade."""
    if n <= 0 or duration <= 0:
        return []
    return [duration * i / (n + 1) for i in range(1, n + 1)]


def read_frames(path: PathLike, timestamps: Sequence[float]) -> list[SampledFrame]:
    """The frames at `timestamps` (seconds), found by seeking, so cost grows with len(timestamps), not file length.

    A timestamp whose frame cannot be decoded is skipped with a warning; VideoError if none can be.
    """
    if not timestamps:
        return []
    cap = open_capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if fps <= 0:
            raise VideoError(path, "unknown frame rate; cannot seek by time")
        frames: list[SampledFrame] = []
        for index, ts in enumerate(timestamps):
            image, decoded_at = _read_at(cap, ts, fps, frame_count)
            if image is None:
                log.warning(f"{path}: no frame could be decoded at {ts:.3f}s; skipping it")
                continue
            height, width = image.shape[:2]
            frames.append(
                SampledFrame(
                    frame_index=index,
                    timestamp_seconds=decoded_at / fps,
                    image=image,
                    width=width,
                    height=height,
                    sharpness=sharpness(image),
                )
            )
    finally:
        cap.release()
    if not frames:
        raise VideoError(path, f"none of the {len(timestamps)} sampled frames could be decoded")
    return frames


def _read_at(cap: cv2.VideoCapture, ts: float, fps: float, frame_count: int) -> tuple[np.ndarray | None, int]:
    """Seek by frame number (exact on the fixtures, like CAP_PROP_POS_MSEC) and check where we landed."""
    target = int(round(ts * fps))
    if target < 0:
        return None, target
    if frame_count > 0 and target >= frame_count:
        if target - (frame_count - 1) > fps:
            return None, target  # more than a second past the end: a caller error, not rounding
        target = frame_count - 1  # just past the end (duration rounding): the last frame
    if not cap.set(cv2.CAP_PROP_POS_FRAMES, target):
        return None, target
    ok, image = cap.read()
    if not ok or image is None:
        return None, target
    # After read(), POS_FRAMES is one past the decoded frame, computed by OpenCV from that frame's timestamp.
    decoded = int(cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1
    catch_up = 0
    while decoded < target - _SEEK_TOLERANCE_FRAMES and catch_up < _MAX_CATCH_UP_FRAMES:
        ok, image = cap.read()  # landed early (e.g. on a keyframe): decode forward to the target
        if not ok or image is None:
            return None, target
        decoded = int(cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1
        catch_up += 1
    if abs(decoded - target) > _SEEK_TOLERANCE_FRAMES:
        log.warning(f"seek to frame {target} ({ts:.3f}s) landed on frame {decoded}; using it")
    return image, decoded


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image (higher = sharper); comparable between frames of one video."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def save_jpeg(image: np.ndarray, path: PathLike, quality: int = 90) -> Path:
    """Write `image` (BGR) as a JPEG, creating parent folders; written to a temporary file then renamed,
    so a crashed run never leaves a half-written file behind for the next (idempotent) run to trust."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {image.shape} as JPEG")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.tobytes())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; previews are read by other processes
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def draw_boxes(
    image: np.ndarray,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[str] | None = None,
    color: tuple[int, int, int] = (0, 255, 0),
    thickness: int = 2,
) -> np.ndarray:
    """A copy of `image` with each (x1, y1, x2, y2) box drawn, and its label above it, for preview images."""
    out = image.copy()
    for i, box in enumerate(boxes):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        if labels is not None and i < len(labels) and labels[i]:
            cv2.putText(
                out, str(labels[i]), (x1, max(y1 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA
            )
    return out
