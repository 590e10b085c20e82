"""Video probing, hashing and frame sampling against the fixture library."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from face_assets.video.frames import draw_boxes, read_frames, sample_timestamps, save_jpeg, sharpness
from face_assets.video.probe import VideoError, VideoInfo, content_hash, probe
from face_assets_tests.conftest import FIXTURES

LIBRARY = FIXTURES / "library"
TRUTH_FILE = FIXTURES / "truth.json"

requires_fixtures = pytest.mark.skipif(
    not TRUTH_FILE.is_file(),
    reason=f"fixtures not found under {FIXTURES} (expected ../shared/fixtures from the repo root)",
)


def _truth() -> dict:
    return json.loads(TRUTH_FILE.read_text()) if TRUTH_FILE.is_file() else {"videos": {}, "broken_files": []}


TRUTH = _truth()


def _decode_all(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


# --- probe ---------------------------------------------------------------------------------------


@requires_fixtures
@pytest.mark.parametrize("rel", sorted(TRUTH["videos"]))
def test_probe_matches_truth(rel):
    expected = TRUTH["videos"][rel]
    info = probe(LIBRARY / rel)
    assert isinstance(info, VideoInfo)
    assert abs(info.duration_seconds - expected["duration"]) <= 0.2
    assert (info.width, info.height) == (expected["width"], expected["height"])
    assert info.fps > 0 and info.frame_count > 0
    assert info.codec is None or (isinstance(info.codec, str) and len(info.codec) == 4)


@requires_fixtures
@pytest.mark.parametrize("rel", sorted(TRUTH["broken_files"]))
def test_broken_files_raise_video_error(rel):
    with pytest.raises(VideoError) as info:
        probe(LIBRARY / rel)
    assert info.value.path == str(LIBRARY / rel)
    assert info.value.reason
    copy = pickle.loads(pickle.dumps(info.value))  # errors cross process boundaries in Dagster runs
    assert (copy.path, copy.reason) == (info.value.path, info.value.reason)


@requires_fixtures
@pytest.mark.parametrize(
    ("rel", "reason"),
    [
        ("videos/broken/empty.mp4", "empty"),
        ("videos/broken/not_a_video.mp4", "text"),
        ("videos/broken/truncated.mp4", "truncated"),
        ("videos/notes.txt", "cannot open"),
        ("videos/no_such_file.mp4", "does not exist"),
        ("videos", "not a regular file"),
    ],
)
def test_video_error_reasons_are_human(rel, reason):
    with pytest.raises(VideoError, match=reason):
        probe(LIBRARY / rel)


# --- content hash --------------------------------------------------------------------------------


@requires_fixtures
def test_content_hash_of_small_files_covers_everything():
    path = LIBRARY / "videos" / "slideshow_01.mp4"  # 340 KB: hashed whole
    data = path.read_bytes()
    expected = hashlib.blake2b(struct.pack("<Q", len(data)) + data, digest_size=16).hexdigest()
    assert content_hash(path) == expected
    assert content_hash(path) != content_hash(LIBRARY / "videos" / "slideshow_08.mp4")


def test_content_hash_of_large_files_samples_three_mebibytes(tmp_path):
    mib = 1 << 20
    path = tmp_path / "big.bin"
    data = bytearray(np.random.default_rng(0).integers(0, 256, 8 * mib, dtype=np.uint8).tobytes())
    path.write_bytes(data)
    original = content_hash(path)
    assert len(original) == 32 and int(original, 16) >= 0

    def changed(offset: int) -> str:
        edited = bytearray(data)
        edited[offset] ^= 0xFF
        path.write_bytes(edited)
        return content_hash(path)

    assert changed(10) != original  # first MiB
    assert changed(len(data) // 2) != original  # middle MiB
    assert changed(len(data) - 10) != original  # last MiB
    assert changed(2 * mib) == original  # between samples: not read, by design
    path.write_bytes(data + b"x")
    assert content_hash(path) != original  # size is part of the hash


# --- sampling ------------------------------------------------------------------------------------


def test_sample_timestamps_avoid_the_ends():
    assert sample_timestamps(10.0, 4) == pytest.approx([2.0, 4.0, 6.0, 8.0])
    assert sample_timestamps(9.0, 2) == pytest.approx([3.0, 6.0])
    assert sample_timestamps(10.0, 0) == []
    assert sample_timestamps(0.0, 5) == []


@requires_fixtures
@pytest.mark.parametrize("rel", ["videos/hamilton_short.mp4", "videos/animated.avi", "videos/slideshow_03.mp4"])
def test_read_frames_seeks_to_the_exact_frames(rel):
    path = LIBRARY / rel
    info = probe(path)
    asked = sample_timestamps(info.duration_seconds, 6)
    frames = read_frames(path, asked)
    every = _decode_all(path)  # ground truth: a full sequential decode
    assert [f.frame_index for f in frames] == list(range(6))
    for frame, ts in zip(frames, asked):
        assert abs(frame.timestamp_seconds - ts) <= 1.0 / info.fps
        index = int(round(frame.timestamp_seconds * info.fps))
        assert np.array_equal(frame.image, every[index]), f"{rel} at {ts:.2f}s is not frame {index}"
        assert (frame.width, frame.height) == (info.width, info.height) == (frame.image.shape[1], frame.image.shape[0])
        assert frame.sharpness > 0


@requires_fixtures
def test_undecodable_timestamps_are_skipped_with_a_warning(caplog):
    path = LIBRARY / "videos" / "slideshow_01.mp4"  # 4 s
    with caplog.at_level(logging.WARNING):
        frames = read_frames(path, [1.0, 60.0, 3.0])
    assert [f.frame_index for f in frames] == [0, 2]
    assert "60.000s" in caplog.text
    with pytest.raises(VideoError, match="none of the 2 sampled frames"):
        read_frames(path, [60.0, 61.0])
    with pytest.raises(VideoError):
        read_frames(LIBRARY / "videos" / "broken" / "truncated.mp4", [1.0])
    assert read_frames(path, []) == []


def test_sharpness_drops_with_blur():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    assert sharpness(cv2.GaussianBlur(image, (9, 9), 3)) < sharpness(image) / 10


# --- image helpers -------------------------------------------------------------------------------


def test_save_jpeg_creates_parents_and_honours_quality(tmp_path):
    rng = np.random.default_rng(2)
    image = cv2.GaussianBlur(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8), (5, 5), 1)
    high = save_jpeg(image, tmp_path / "a" / "b" / "high.jpg", quality=95)
    low = save_jpeg(image, tmp_path / "a" / "b" / "low.jpg", quality=30)
    assert high.is_file() and low.is_file()
    assert cv2.imread(str(high)).shape == image.shape
    assert low.stat().st_size < high.stat().st_size
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["high.jpg", "low.jpg"]  # no temp files left


def test_draw_boxes_returns_an_annotated_copy():
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    out = draw_boxes(image, [(10.2, 20.0, 60.0, 80.7)], labels=["Ariel Sharon 0.77"])
    assert out.shape == image.shape and out is not image
    assert not image.any()  # the input is untouched
    assert tuple(out[50, 10]) == (0, 255, 0)  # left edge of the box
    assert not out[50, 100].any()  # outside the box
