"""Adaptive sampling and tracks (face_assets.video.timeline).

The bisection runs the real model (buffalo_sc) on a video made at test time from fixture photos with known cut
points; the linking tests use embeddings made to a chosen similarity (geometry and greedy pairing are the subject)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.timeline_videos import Segment, identity_of, write_video
from face_assets.video.frames import read_frames, sample_timestamps
from face_assets.video.timeline import (
    LINK_SIMILARITY,
    SAME_PEOPLE_SIMILARITY,
    Face,
    Sample,
    build_tracks,
    intervals,
    link_pairs,
    next_times,
    same_people,
    sample_adaptively,
    uniform_times,
)
from face_assets_tests.conftest import FIXTURES, require_fixtures
from face_assets_tests.web.seed import near, unit

LFW = FIXTURES / "lfw_dev" / "images"
RESOLUTION = 2.0


@pytest.fixture(scope="module")
def engine():
    require_fixtures()
    from face_assets.engine.face_engine import FaceEngine

    engine = FaceEngine()
    engine.load()
    return engine


def observer(engine, path, min_size: float = 64.0):
    calls = []

    def observe(times):
        calls.append(len(times))
        frames = read_frames(path, list(times))
        found = engine.detect([f.image for f in frames])
        samples = []
        for frame, faces in zip(frames, found):
            kept = []
            for face in faces:
                x1, y1, x2, y2 = face.bbox
                if min(x2 - x1, y2 - y1) >= min_size and face.det_score >= 0.5:
                    kept.append(Face((x1, y1, x2 - x1, y2 - y1), face.embedding))
            samples.append(Sample(frame.timestamp_seconds, kept))
        return samples

    observe.calls = calls
    return observe


@pytest.mark.slow
def test_bisection_finds_every_cut_within_the_resolution(tmp_path, engine):
    a = (LFW / "Colin_Powell" / "Colin_Powell_0001.jpg", LFW / "Colin_Powell" / "Colin_Powell_0002.jpg")
    b = (LFW / "Tony_Blair" / "Tony_Blair_0001.jpg",)
    segments = [
        Segment(7.25, 23.75, "A", a),
        Segment(31.0, 44.5, "B", b),
        Segment(47.25, 56.25, "A", a),  # A again, 2.75 s after B left
    ]
    duration = 80.0
    video = write_video(tmp_path / "cuts.mp4", duration, segments, fps=4)
    refs = {}
    for person in ("A", "B"):
        faces = [
            f
            for img in read_frames(video.path, [s.start + 1.0 for s in segments if s.person == person])
            for f in engine.detect([img.image])[0]
        ]
        mean = np.mean([f.embedding for f in faces], axis=0)
        refs[person] = mean / np.linalg.norm(mean)

    observe = observer(engine, video.path)
    first = observe(sample_timestamps(duration, 5))
    # Every appearance longer than the probe step is seen by a probe (here 8 s; the default is 15 resolutions).
    result = sample_adaptively(first, duration, observe, resolution=RESOLUTION, probe_step=8.0)
    tracks = build_tracks(result.samples, duration)
    labels = []
    for track in tracks:
        emb = np.mean([result.samples[si].faces[fi].embedding for si, fi in track.members], axis=0)
        labels.append(identity_of(emb / np.linalg.norm(emb), refs))
    found = intervals(tracks, labels, merge_gap=RESOLUTION)

    truth = video.truth()
    assert set(found) == set(truth)
    for person, spans in truth.items():
        assert len(found[person]) == len(spans), (person, found[person], spans)
        for (start, end), (f_start, f_end) in zip(spans, found[person]):
            assert abs(f_start - start) <= RESOLUTION, (person, start, f_start)
            assert abs(f_end - end) <= RESOLUTION, (person, end, f_end)
    # Each boundary is bracketed by two samples at most a resolution apart.
    times = [s.t for s in result.samples]
    for spans in truth.values():
        for cut in [t for span in spans for t in span]:
            before = max(t for t in times if t <= cut)
            after = min(t for t in times if t >= cut)
            assert after - before <= RESOLUTION + 0.26, (cut, before, after)  # + one frame at 4 fps
    frames = len(result.samples)
    uniform = len(uniform_times(duration, RESOLUTION))
    assert frames == 5 + result.added and result.bisections > 0
    assert frames < uniform, (frames, uniform)
    print(f"\n{frames} frames ({result.added} added in {result.rounds} rounds) against {uniform} uniform")


def _person(rng, n):
    base = unit(rng)
    return base, [near(base, 0.8, rng) for _ in range(n)]


def test_two_people_crossing_keep_their_tracks():
    rng = np.random.default_rng(3)
    _, a = _person(rng, 7)
    _, b = _person(rng, 7)
    samples = []
    for k in range(7):  # A walks right, B walks left; their boxes overlap in the middle frames
        xa, xb = 40 + 60 * k, 400 - 60 * k
        samples.append(
            Sample(k * 0.5, [Face((xb, 100, 80, 80), b[k], ("b", k)), Face((xa, 100, 80, 80), a[k], ("a", k))])
        )
    tracks = build_tracks(samples, 3.5)
    assert len(tracks) == 2
    for track in tracks:
        owners = {samples[si].faces[fi].key[0] for si, fi in track.members}
        assert len(owners) == 1 and track.faces == 7
        assert (track.start, track.end) == (0.0, 3.5)


def test_a_profile_view_links_to_its_track_by_its_box_and_a_stranger_does_not():
    rng = np.random.default_rng(5)
    frontal = unit(rng)
    profile = near(frontal, 0.35, rng)  # below the similarity that links on its own
    assert 0.35 < LINK_SIMILARITY
    samples = [
        Sample(0.0, [Face((100, 80, 90, 90), frontal, "frontal")]),
        Sample(0.5, [Face((104, 82, 86, 90), profile, "profile")]),
        Sample(3.5, [Face((104, 82, 86, 90), near(frontal, 0.35, rng), "late")]),  # too far apart for the box
    ]
    assert [(i, j) for i, j, _ in link_pairs(samples[0], samples[1])] == [(0, 0)]
    tracks = build_tracks(samples, 4.0)
    assert [len(t.members) for t in tracks] == [2, 1]
    stranger = near(frontal, 0.15, rng)  # same place, another person (a cut in the same framing)
    assert link_pairs(samples[0], Sample(0.5, [Face((100, 80, 90, 90), stranger)])) == []


def test_tracks_end_half_way_to_the_next_sample():
    rng = np.random.default_rng(9)
    base = unit(rng)
    samples = [
        Sample(0.0),
        Sample(2.0, [Face((0, 0, 80, 80), base)]),
        Sample(3.0, [Face((0, 0, 80, 80), base)]),
        Sample(5.0),
    ]
    (track,) = build_tracks(samples, 6.0)
    assert (track.first, track.last, track.start, track.end) == (2.0, 3.0, 1.0, 4.0)


def test_one_person_in_two_samples_that_do_not_link_is_not_bisected():
    # Two shots of one person 20 s apart whose faces are alike but below the linking similarity: two tracks, yet the
    # same people for the sampler (no frame spent between them); a stranger in the second shot is a cut to bisect.
    rng = np.random.default_rng(11)
    person = unit(rng)
    later = near(person, 0.38, rng)
    assert SAME_PEOPLE_SIMILARITY <= 0.38 < LINK_SIMILARITY
    a = Sample(10.0, [Face((100, 80, 90, 90), person)])
    b = Sample(30.0, [Face((300, 40, 70, 70), later)])
    assert link_pairs(a, b) == []
    assert [len(t.members) for t in build_tracks([a, b], 40.0)] == [1, 1]
    assert same_people(a, b)
    probes, cuts = next_times([a, b], 40.0, RESOLUTION, 30.0)
    assert 20.0 not in cuts and probes == []
    stranger = Sample(30.0, [Face((300, 40, 70, 70), near(person, 0.1, rng))])
    assert not same_people(a, stranger)
    assert 20.0 in next_times([a, stranger], 40.0, RESOLUTION, 30.0)[1]
