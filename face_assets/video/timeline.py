"""Who is on screen, and when: which frames to decode (adaptive sampling) and faces linked into tracks.

Plain logic over samples (a time and the faces found there); the caller decodes and detects (`observe`), so the
same code runs in the pipeline (asset `timeline_frames`), in the tests on a synthetic video and in the benchmark.

Adaptive sampling (`sample_adaptively`)
---------------------------------------
The first pass is the configured `frames_per_video` frames spread over the video. Then, round after round, until
nothing is left to ask (each round is one batch of seeks, so the model is called on many frames at once):
- a gap between two samples longer than `probe_step` (edges of the video included) is probed at that step: a long
  video does not hide a person between its first-pass frames;
- a gap longer than `resolution` whose two ends do not hold the same people (a face on one side links to no face on
  the other, see `link_pairs`) is cut in two at its midpoint: bisection, so each appearance's start and end end up
  between two samples at most `resolution` apart (the start is then placed at their midpoint: within resolution/2);
  an edge of the video counts as an empty side, so a person on screen at the start is bisected towards 0;
- once bisection is done, tracks the caller calls doubtful (a creator proposed but below the auto-tag target) get a
  few frames around their faces (`doubt_times`), to gather evidence; bisection then goes on where those frames
  changed anything.
A gap whose two ends hold the same people is not cut (between probes at most `probe_step` apart, a person seen on
both sides is taken to be there in between): the frames go where the picture changes. "The same people" is judged
more loosely than a track's link (`SAME_PEOPLE_SIMILARITY`, at any distance): the two errors do not cost the same.
Taking two people for one costs one boundary placed within the probe step instead of the resolution, and needs a
pair of different people at or above the calibration's FAR 1e-4 point; taking one person for two costs
log2(gap / resolution) frames, each of which may split again (measured on the timeline benchmark before this rule:
153 of 441 bisections fell inside one person's stretch, between two samples whose faces did not link at 0.45).

Tracks (`build_tracks`)
-----------------------
Faces in consecutive samples are linked one-to-one (greedy, most similar pair first) when their embeddings are
alike enough on their own (`LINK_SIMILARITY`), or, for samples at most `NEAR_SECONDS` apart, when their boxes
overlap (IoU >= `LINK_IOU`) and their embeddings are not unlike (`LINK_SIMILARITY_NEAR`). A chain of links is a
track: one person on screen, whose start/end are half-way to the samples next to it (the video's start/end when
there is none).

The thresholds, measured on the fixture videos (buffalo_sc; one frame every 0.5 s of the 12 fixture videos with
people, faces >= 64 px, every pair of frames 0.5-2 s apart; measured 2026-12-04 with FaceEngine on CPU):
- the same person in frames of the real clips (talking head, two driving clips, the stage clip; one face per frame,
  n = 56-67 pairs per lag): similarity median 0.84 / 0.81 / 0.77 and 5th percentile 0.60 / 0.52 / 0.46 at 0.5 / 1 /
  2 s apart (a head turning away goes lower: minimum 0.39 at 0.5 s), box IoU median 0.90 / 0.90 / 0.88;
- different people (20,293 pairs of faces of fixture videos without a person in common): similarity at most 0.227
  (99.9th percentile 0.209), 0.227 also among the 11,752 pairs whose boxes overlap (IoU >= 0.3, relative
  coordinates). The lfw_dev calibration puts its false-accept rate 1e-6 at 0.438, 1e-4 at 0.300.
So: similarity alone links at 0.45 (the calibration's FAR 1e-6 point rounded up: 97.0% / 96.8% / 94.6% of the
same-person pairs at 0.5 / 1 / 2 s), and with overlapping boxes (IoU >= 0.3) in frames at most 2 s apart a
similarity of 0.30 (FAR 1e-4, above every different-people pair measured) links the turned heads too (98.5% at
0.5 s); no different-people pair measured links either way. Links are one-to-one, most similar first, so two people
crossing (boxes overlapping in between) each keep their own track.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

LINK_SIMILARITY = 0.45  # alone: the buffalo_sc calibration's FAR 1e-6 point (rounded up to 0.05)
LINK_IOU = 0.3  # boxes of one face in two close frames
LINK_SIMILARITY_NEAR = 0.30  # with overlapping boxes in close frames: FAR 1e-4, above every different pair measured
NEAR_SECONDS = 2.0  # how far apart two frames may be for their boxes to count
# Two samples hold the same people (no frame between them, see the module docstring) when their faces pair at this
# similarity, whatever the distance: FAR 1e-4, above every different-people pair measured.
SAME_PEOPLE_SIMILARITY = LINK_SIMILARITY_NEAR
DEFAULT_RESOLUTION = 2.0
PROBE_STEPS = 15  # the coarse probe step is this many resolutions (30 s at 2 s): a person on screen that long is seen
DOUBT_FRAMES = 4  # extra frames per doubtful track


@dataclass(frozen=True, eq=False)
class Face:
    box: tuple[float, float, float, float]  # x, y, width, height in pixels of its frame
    embedding: np.ndarray  # unit-norm
    key: object = None  # the caller's id (a detection id)


@dataclass(eq=False)
class Sample:
    t: float  # seconds
    faces: list[Face] = field(default_factory=list)
    key: object = None  # the caller's id (a frame index)


@dataclass
class Track:
    members: list[tuple[int, int]]  # (sample index, face index), in time order
    first: float  # time of its first and last sample
    last: float
    start: float  # estimated start and end: half-way to the samples before and after it
    end: float

    @property
    def faces(self) -> int:
        return len(self.members)


@dataclass
class AdaptiveResult:
    samples: list[Sample]  # every sample, first pass included, in time order
    added: int  # frames decoded after the first pass
    rounds: int
    probes: int = 0  # of `added`: coarse probes of long gaps
    bisections: int = 0  # ... midpoints of gaps whose ends differ
    doubts: int = 0  # ... frames around doubtful tracks
    failed: int = 0  # times asked for that gave no frame


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = aw * ah + bw * bh - inter
    return float(inter / union) if union > 0 else 0.0


def link_pairs(a: Sample, b: Sample, alone: float = LINK_SIMILARITY) -> list[tuple[int, int, float]]:
    """The faces of `a` and `b` that are one person: (index in a, index in b, similarity), one-to-one, most similar
    pairs first (two people crossing keep their own tracks: each face links to the one most like it). `alone`: the
    similarity that links whatever the boxes and the distance."""
    if not a.faces or not b.faces:
        return []
    ea = np.stack([f.embedding for f in a.faces]).astype(np.float32)
    eb = np.stack([f.embedding for f in b.faces]).astype(np.float32)
    sims = ea @ eb.T
    near = abs(b.t - a.t) <= NEAR_SECONDS
    candidates = []
    for i, fa in enumerate(a.faces):
        for j, fb in enumerate(b.faces):
            s = float(sims[i, j])
            if s >= alone or (near and s >= LINK_SIMILARITY_NEAR and box_iou(fa.box, fb.box) >= LINK_IOU):
                candidates.append((s, i, j))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for s, i, j in candidates:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pairs.append((i, j, s))
    return pairs


def same_people(a: Sample | None, b: Sample | None) -> bool:
    """Whether two neighbouring samples hold the same people (an edge of the video, None, holds nobody)."""
    faces_a = a.faces if a is not None else []
    faces_b = b.faces if b is not None else []
    if not faces_a and not faces_b:
        return True
    if not faces_a or not faces_b or len(faces_a) != len(faces_b):
        return False
    assert a is not None and b is not None
    return len(link_pairs(a, b, alone=SAME_PEOPLE_SIMILARITY)) == len(faces_a)


def build_tracks(samples: Sequence[Sample], duration: float) -> list[Track]:
    """Tracks over `samples` (in time order): chains of linked faces of consecutive samples."""
    track_of: dict[tuple[int, int], int] = {}
    members: list[list[tuple[int, int]]] = []
    for si, sample in enumerate(samples):
        links = {j: i for i, j, _ in link_pairs(samples[si - 1], sample)} if si > 0 else {}
        for fj in range(len(sample.faces)):
            if fj in links:
                t = track_of[(si - 1, links[fj])]
            else:
                t = len(members)
                members.append([])
            members[t].append((si, fj))
            track_of[(si, fj)] = t
    tracks = []
    for m in members:
        first_i, last_i = m[0][0], m[-1][0]
        start = 0.0 if first_i == 0 else (samples[first_i - 1].t + samples[first_i].t) / 2
        end = duration if last_i == len(samples) - 1 else (samples[last_i].t + samples[last_i + 1].t) / 2
        tracks.append(Track(m, samples[first_i].t, samples[last_i].t, max(0.0, start), max(start, min(end, duration))))
    return tracks


def _gaps(samples: Sequence[Sample], duration: float) -> list[tuple[float, float, Sample | None, Sample | None]]:
    """(from, to, sample at from, sample at to) for each gap, the video's two edges included (sample None)."""
    if not samples:
        return [(0.0, duration, None, None)]
    gaps = [(0.0, samples[0].t, None, samples[0])]
    gaps += [(a.t, b.t, a, b) for a, b in itertools.pairwise(samples)]
    gaps.append((samples[-1].t, duration, samples[-1], None))
    return gaps


def next_times(
    samples: Sequence[Sample], duration: float, resolution: float, probe_step: float
) -> tuple[list[float], list[float]]:
    """The next round: (coarse probes, bisection midpoints)."""
    probes: list[float] = []
    cuts: list[float] = []
    for lo, hi, a, b in _gaps(samples, duration):
        gap = hi - lo
        if gap > probe_step:
            n = math.ceil(gap / probe_step) - 1
            probes += [lo + gap * k / (n + 1) for k in range(1, n + 1)]
        elif gap > resolution and not same_people(a, b):
            cuts.append((lo + hi) / 2)
    return probes, cuts


def doubt_times(
    samples: Sequence[Sample], tracks: Sequence[Track], doubtful: Sequence[int], resolution: float, duration: float
) -> list[float]:
    """Up to DOUBT_FRAMES times around each doubtful track's faces (half a resolution before and after each of its
    samples, first the middle ones), where no sample is closer than a quarter resolution."""
    times = sorted(s.t for s in samples)
    wanted: list[float] = []
    for index in doubtful:
        track = tracks[index]
        own = [samples[si].t for si, _ in track.members]
        mid = own[len(own) // 2]
        chosen = 0
        for t in sorted(own, key=lambda v: abs(v - mid)):
            for candidate in (t - resolution / 2, t + resolution / 2):
                if chosen >= DOUBT_FRAMES or not 0 <= candidate <= duration:
                    continue
                if _nearest(times, candidate) < resolution / 4 or any(
                    abs(w - candidate) < resolution / 4 for w in wanted
                ):
                    continue
                wanted.append(candidate)
                chosen += 1
    return sorted(wanted)


def _nearest(times: Sequence[float], t: float) -> float:
    i = bisect.bisect_left(times, t)
    best = math.inf
    for j in (i - 1, i):
        if 0 <= j < len(times):
            best = min(best, abs(times[j] - t))
    return best


Observe = Callable[[Sequence[float]], list[Sample]]
Doubtful = Callable[[Sequence[Sample], Sequence[Track]], Sequence[int]]


def sample_adaptively(
    first: Sequence[Sample],
    duration: float,
    observe: Observe,
    *,
    resolution: float = DEFAULT_RESOLUTION,
    probe_step: float | None = None,
    doubtful: Doubtful | None = None,
    max_rounds: int = 40,
    min_spacing: float | None = None,
) -> AdaptiveResult:
    """Every sample after adaptive sampling (see the module docstring). `observe(times)` decodes and detects the
    frames at `times` and returns their samples (a time that cannot be decoded is left out); `doubtful(samples,
    tracks)` names the tracks that deserve a few more frames."""
    resolution = max(float(resolution), 1e-3)
    probe_step = max(float(probe_step if probe_step is not None else PROBE_STEPS * resolution), resolution)
    spacing = min_spacing if min_spacing is not None else min(resolution / 8, 0.1)
    samples = sorted(first, key=lambda s: s.t)
    result = AdaptiveResult(samples, 0, 0)
    tried: list[float] = sorted(s.t for s in samples)
    doubts_done = doubtful is None
    for _ in range(max_rounds):
        probes, cuts = next_times(samples, duration, resolution, probe_step)
        doubts: list[float] = []
        if not probes and not cuts and not doubts_done:
            doubts_done = True
            tracks = build_tracks(samples, duration)
            chosen = list(doubtful(samples, tracks)) if doubtful is not None else []
            doubts = doubt_times(samples, tracks, chosen, resolution, duration)
        asked = [(t, "probe") for t in probes] + [(t, "cut") for t in cuts] + [(t, "doubt") for t in doubts]
        asked = [(t, kind) for t, kind in asked if _nearest(tried, t) >= spacing]
        if not asked:
            break
        result.rounds += 1
        for t, _ in asked:
            tried.insert(_bisect_index(tried, t), t)
        new = observe([t for t, _ in asked])
        result.failed += len(asked) - len(new)
        known = {round(s.t, 4) for s in samples}
        fresh = [s for s in new if round(s.t, 4) not in known]
        for _, kind in asked:
            if kind == "probe":
                result.probes += 1
            elif kind == "cut":
                result.bisections += 1
            else:
                result.doubts += 1
        result.added += len(fresh)
        for s in fresh:
            tried.insert(_bisect_index(tried, s.t), s.t)
        samples = sorted([*samples, *fresh], key=lambda s: s.t)
    result.samples = samples
    return result


def _bisect_index(values: list[float], t: float) -> int:
    return bisect.bisect_left(values, t)


def uniform_times(duration: float, step: float) -> list[float]:
    """One frame every `step` seconds, centred in each step: the baseline adaptive sampling is measured against."""
    n = max(1, int(math.floor(duration / step)))
    return [(k + 0.5) * duration / n for k in range(n)]


def intervals(
    tracks: Sequence[Track], labels: Sequence[object], merge_gap: float
) -> dict[object, list[tuple[float, float]]]:
    """Per label (a person), the union of its tracks' [start, end], joining intervals at most `merge_gap` apart."""
    by_label: dict[object, list[tuple[float, float]]] = {}
    for track, label in zip(tracks, labels):
        if label is None:
            continue
        by_label.setdefault(label, []).append((track.start, track.end))
    merged: dict[object, list[tuple[float, float]]] = {}
    for label, spans in by_label.items():
        out: list[list[float]] = []
        for lo, hi in sorted(spans):
            if out and lo <= out[-1][1] + merge_gap:
                out[-1][1] = max(out[-1][1], hi)
            else:
                out.append([lo, hi])
        merged[label] = [(a, b) for a, b in out]
    return merged


def interval_iou(found: Sequence[tuple[float, float]], truth: Sequence[tuple[float, float]]) -> float:
    """Length of the intersection over the length of the union of two sets of disjoint intervals."""

    def length(spans):
        return sum(max(0.0, b - a) for a, b in spans)

    inter = 0.0
    for a0, a1 in found:
        for b0, b1 in truth:
            inter += max(0.0, min(a1, b1) - max(a0, b0))
    union = length(found) + length(truth) - inter
    return inter / union if union > 0 else 1.0
