"""Stage `sample_frames`: 5 frames of a 10-minute 1080p video, by seeking vs by decoding every frame.

Input: a 10-minute 1920x1080 25 fps video made with OpenCV (cv2.VideoWriter, mp4v: simple moving shapes and the
frame number), generated once and cached under benchmarks/.data/. OpenCV's FFmpeg writer puts a keyframe every
12 frames, so a seek decodes at most 12 frames; long-GOP H.264 files (a keyframe every few seconds) make each seek
cost more, and the full decode cost per frame is also higher for H.264 than for MPEG-4 part 2.

OURS: face_assets.video.frames.read_frames(path, sample_timestamps(duration, 5)): one seek per timestamp.
BASELINE: the seed's approach (FFmpeg's fps filter) done with OpenCV: a loop over cap.read() decoding every frame of
the file and keeping, for each timestamp, the frame nearest to it.
Both are checked to return the same frames (same frame numbers, identical pixels).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchmarks.harness import DATA_DIR, StageResult, cached_input, interleaved, median, say

STAGE = "sample_frames"
TARGET_RATIO = 20.0
N_TIMESTAMPS = 5

FULL = {"width": 1920, "height": 1080, "fps": 25, "seconds": 600, "repetitions": 3, "baseline_repetitions": 3}
QUICK = {"width": 320, "height": 180, "fps": 25, "seconds": 20, "repetitions": 2, "baseline_repetitions": 2}


def make_video(path: Path, width: int, height: int, fps: int, seconds: int) -> Path:
    """Write a synthetic video (moving shapes on a gradient, the frame number in a corner); atomic."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial" + path.suffix)  # the writer picks the container by suffix
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {partial} with mp4v")
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [(xx * 255 // max(width - 1, 1)), (yy * 255 // max(height - 1, 1)), np.full_like(xx, 96)], axis=-1
    ).astype(np.uint8)
    scale = height / 1080
    try:
        for i in range(fps * seconds):
            frame = background.copy()
            t = i / fps
            cx = int((0.5 + 0.4 * np.sin(t * 0.7)) * width)
            cy = int((0.5 + 0.4 * np.cos(t * 0.5)) * height)
            cv2.circle(frame, (cx, cy), int(120 * scale) + 1, (40, 200, 240), -1)
            x = int((t * 180 * scale) % width)
            cv2.rectangle(
                frame, (x, int(100 * scale)), (x + int(200 * scale) + 1, int(300 * scale) + 1), (220, 60, 60), -1
            )
            cv2.putText(
                frame,
                f"{i:06d}",
                (int(40 * scale), height - int(40 * scale)),
                cv2.FONT_HERSHEY_SIMPLEX,
                3 * scale,
                (255, 255, 255),
                max(1, int(6 * scale)),
                cv2.LINE_AA,
            )
            writer.write(frame)
    finally:
        writer.release()
    os.replace(partial, path)
    return path


def video(cfg: dict, directory: Path = DATA_DIR) -> Path:
    return cached_input(
        directory / f"synthetic_{cfg['width']}x{cfg['height']}_{cfg['fps']}fps_{cfg['seconds']}s.mp4",
        lambda path: make_video(path, cfg["width"], cfg["height"], cfg["fps"], cfg["seconds"]),
        STAGE,
    )


def decode_everything(path: Path, timestamps: list[float]) -> list[tuple[int, np.ndarray]]:
    """The baseline: decode every frame, keep the one nearest to each timestamp. [(frame number, image)]."""
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        best: list[tuple[float, int, np.ndarray] | None] = [None] * len(timestamps)
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            t = index / fps
            for j, ts in enumerate(timestamps):
                d = abs(t - ts)
                if best[j] is None or d < best[j][0]:
                    best[j] = (d, index, frame)
            index += 1
    finally:
        cap.release()
    return [(b[1], b[2]) for b in best if b is not None]


def run(quick: bool = False, data_dir: Path | None = None) -> list[StageResult]:
    from face_assets.video.frames import read_frames, sample_timestamps
    from face_assets.video.probe import probe

    cfg = QUICK if quick else FULL
    path = video(cfg, data_dir or DATA_DIR)
    info = probe(path)
    timestamps = sample_timestamps(info.duration_seconds, N_TIMESTAMPS)
    say(
        f"[sample_frames] {path.name}: {info.frame_count:,} frames, {info.duration_seconds:.0f} s, "
        f"{info.width}x{info.height}, {info.codec}; timestamps {[round(t, 1) for t in timestamps]}"
    )
    with open(path, "rb") as fh:  # both read the file from the page cache, not the disk
        while fh.read(1 << 24):
            pass

    ours_s, base_s, ours_r, base_r = interleaved(
        lambda i: read_frames(path, timestamps),
        lambda i: decode_everything(path, timestamps),
        cfg["repetitions"],
        cfg["baseline_repetitions"],
        log=say,
    )
    ours_frames = [(round(f.timestamp_seconds * info.fps), f.image) for f in ours_r[-1]]
    base_frames = base_r[-1]
    same_index = [a[0] == b[0] for a, b in zip(ours_frames, base_frames)]
    same_pixels = [a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(ours_frames, base_frames)]
    ours_median, base_median = median(ours_s), median(base_s)
    return [
        StageResult(
            name=STAGE,
            sizes={
                "width": info.width,
                "height": info.height,
                "fps": info.fps,
                "frames": info.frame_count,
                "duration_s": round(info.duration_seconds, 1),
                "timestamps": N_TIMESTAMPS,
                "codec": info.codec,
                "file_mib": round(path.stat().st_size / 2**20, 1),
            },
            ours="face_assets.video.frames.read_frames: one seek per timestamp",
            baseline="decode every frame (cap.read() loop), keep the nearest frame to each timestamp",
            ours_median_s=ours_median,
            baseline_median_s=base_median,
            repetitions={"ours": len(ours_s), "baseline": len(base_s)},
            target=f">= {TARGET_RATIO:g}x (ours over baseline, time to get the {N_TIMESTAMPS} frames)",
            met=bool(ours_median and base_median / ours_median >= TARGET_RATIO),
            notes=(
                f"Video generated with OpenCV (mp4v, keyframe every 12 frames). Same frames from both: "
                f"{sum(same_pixels)}/{len(ours_frames)} identical (frame number and pixels), "
                f"{sum(same_index)}/{len(ours_frames)} same frame number. Ratio = baseline / ours time."
            ),
            metrics={
                "ours_ms": ours_median * 1e3,
                "baseline_ms": base_median * 1e3,
                "baseline_decode_fps": info.frame_count / base_median,
                "frames_identical": sum(same_pixels),
                "frames_same_index": sum(same_index),
                "frame_numbers": [a for a, _ in ours_frames],
            },
            ours_samples_s=ours_s,
            baseline_samples_s=base_s,
            quick=quick,
        )
    ]


def details_markdown(r: dict) -> str:
    m = r.get("metrics") or {}
    s = r.get("sizes") or {}
    return (
        f"{s.get('width')}x{s.get('height')} {s.get('codec')} at {s.get('fps')} fps, {s.get('frames'):,} frames "
        f"({s.get('file_mib')} MiB). Ours {m.get('ours_ms', 0):.0f} ms for 5 frames; the baseline decodes at "
        f"{m.get('baseline_decode_fps', 0):.0f} frames/s, {m.get('baseline_ms', 0) / 1e3:.1f} s. Frames returned: "
        f"{m.get('frame_numbers')}; identical in both: {m.get('frames_identical')}/5.\n"
    )
