"""FaceEngine.detect_stream (the face_detections step's engine, issue 20): the same faces as `detect` item by item, in
input order, on real frames of the fixture videos; items without images; a caller that stops early."""

from __future__ import annotations

import numpy as np
import pytest

from face_assets.engine.face_engine import FaceEngine
from face_assets_tests.conftest import FIXTURES

VIDEOS = FIXTURES / "library" / "videos"

pytestmark = pytest.mark.skipif(
    not VIDEOS.is_dir() or not (FIXTURES / "models" / "buffalo_sc").is_dir(),
    reason=f"fixture videos / model pack not found under {FIXTURES} (expected ../shared/fixtures)",
)


@pytest.fixture(scope="module")
def videos() -> list[list[np.ndarray]]:
    """Three frames of each of four fixture videos (people, several faces, none)."""
    from face_assets.video.frames import read_frames, sample_timestamps
    from face_assets.video.probe import probe

    paths = sorted(p for p in VIDEOS.iterdir() if p.suffix == ".mp4")[:4]
    return [[f.image for f in read_frames(p, sample_timestamps(probe(p).duration_seconds, 3))] for p in paths]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        np.allclose(x.bbox, y.bbox, atol=1e-3) and float(x.embedding @ y.embedding) > 0.9999 for x, y in zip(a, b)
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_the_stream_gives_detect_s_faces_in_input_order(videos, workers):
    engine = FaceEngine(migraphx_cache_path=None, frame_workers=workers)
    expected = [engine.detect(frames) for frames in videos]
    assert sum(len(f) for video in expected for f in video) >= 5  # real faces, not an empty comparison
    items = [(k, frames) for k, frames in enumerate(videos)] + [(len(videos), None)]
    got = list(engine.detect_stream(items, images=lambda item: item[1], ahead=2))
    assert [item for item, _ in got] == items  # every item, in order, itself
    assert got[-1][1] == []  # no images: no faces, nothing run
    for (_, faces), want in zip(got, expected):
        assert len(faces) == len(want) and all(_same(a, b) for a, b in zip(faces, want))


def test_a_caller_that_stops_early_leaves_nothing_running(videos):
    engine = FaceEngine(migraphx_cache_path=None, frame_workers=2)
    stream = engine.detect_stream(videos * 3, ahead=2)
    first = next(stream)
    assert first[0] is videos[0] and len(first[1]) == len(videos[0])
    stream.close()  # the queued frames of the next items are cancelled, the pool shut down
    assert [len(f) for f in next(engine.detect_stream([videos[1]]))[1]] == [len(f) for f in engine.detect(videos[1])]
