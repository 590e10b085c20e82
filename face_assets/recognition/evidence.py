"""THE auto-tag rule: a video is tagged with a creator when the evidence of all its faces, fused, reaches a false-tag
target. Also: why a video was (not) tagged, and which faces a creator learns from.

Per face (`face_llr`)
---------------------
A face's similarity s to a creator becomes a log likelihood ratio L(s) = ln P(s | same person) / P(s | different
people) from the model's calibration (`likelihood_model`: the one stored by `face-assets calibrate --apply`, else
the one shipped in face_assets/recognition/calibrations/<model>.json). For a model with neither, `DefaultsLikelihood`
turns its MODEL_DEFAULTS into one (see there). The margin to the runner-up creator (the best other allowed creator,
similarity r) enters as

    face LLR = L(s) - ln(1 + exp(L(r)) / N)

with N the gallery's creators (as in the target below): the face is c, against "it is another creator or a
stranger". Under the prior the target stands on (about one creator per video in N, so any one creator is a priori
N times less likely than "someone else"), the alternative's likelihood is at most 1 + LR_r / N times a stranger's
(the runner-up standing for the other creators; its share is its prior), so this is a lower bound of the face's
likelihood ratio: a face about as like another creator as like c counts for about ln N less, and a face clearly
another creator's (LR_r far above N) for little, one far from every other creator for L(s). The runner-up at
chance level is no evidence against c: in a gallery of N, the best of N - 1 strangers to the face reaches LR ~ N
(issue 20: with ln(1 + LR_r), 603 creators and 1-2 faces per person and video, lfw_dev's chance runner-ups cost a
true face ~6-7, and creator recall fell to 0.86; benchmarks/ row recognition.scale). The false-tag bound below does
not depend on the margin (Markov's inequality holds for L(s) alone, the margin only takes evidence off).

Over frames (`fuse`)
--------------------
At most one face of a frame can be the creator (two faces in one frame are two people): each frame contributes its
best face, less ln(m) for a frame with m faces. Without the creator, each of those m faces is a stranger whose
likelihood ratio has expectation at most 1, so the best of them has expectation at most m (their sum's): taking ln m
off keeps a crowded frame to the same false-tag bound as a frame with one face (a creator seen among two others
loses ln 3 = 1.1, a small part of a good face's LLR). Frames of one video are not independent looks at the person
(same camera, light, make-up, often the same shot), so their LLRs are not simply added: with an intra-video
correlation rho (`evidence_frame_correlation`, default 0.5), n frames count as Kish's effective sample size n_eff(n)
= n / (1 + (n - 1) rho) independent ones, which never exceeds 1/rho. The frames' LLRs, sorted strongest first, get
the weights n_eff(i) - n_eff(i - 1) (1, 1/3, 1/6, ... at rho 0.5): n equal frames give n_eff x their LLR, one strong
frame is never weakened by a weaker one added.

Over tracks (issue 20)
----------------------
Frames whose faces belong to one track (face_assets.video.timeline: the same face linked over consecutive samples)
are one look at one person, not several: adaptive sampling can put twenty frames on one shot, and twenty copies of a
stranger's resemblance are not twenty times the evidence. A track counts as one look whose LLR is the mean of its
frames' (each its best face less ln m, as above). By Jensen's inequality exp(mean L) <= mean exp(L), so under "not
this creator" a track's likelihood ratio still has expectation <= 1 however many frames it spans: Markov's bound
holds per look. Looks (tracks, and frames whose face is in no track: a video sampled before tracks existed) are then
weighted like frames above. Measured on the timeline benchmark: strangers proposed at similarity 0.33-0.34 for one
creator in one track of 9-10 frames were tagged when each frame counted (n_eff ~ 1.8 x their LLR); as one look they
wait for review.

The target (`target_llr`)
-------------------------
Under "the creator is not in the video" the likelihood ratio has expectation 1, so by Markov's inequality it reaches
T with probability at most 1/T. Every creator of the gallery (N creators with references) is a candidate for every
video; with T = N / auto_tag_max_false_rate the chance that any of them is tagged falsely on a video is at most
auto_tag_max_false_rate (default 0.01; the same threshold follows from Bayes with a prior of about one creator per
video in N). The target is ln T: it grows with the gallery, as a 1:N search must.

Learned references (anti-drift)
-------------------------------
A creator's references a person stands behind (pictures, reference images, confirmed faces) are its anchors; faces
of auto-tagged videos may join as learned references (`learn_references`). So that one wrong tag cannot cascade:
- a learned reference never counts as evidence alone: besides the fused evidence over all references reaching the
  target, the evidence over the anchors alone must favour the creator (anchored LLR > 0). A stranger learned by
  mistake is far from the creator's pictures, so his other videos are never tagged through him;
- only faces of tags whose ANCHORED evidence reaches the target are learned, each with a positive anchored LLR of
  its own: a learned reference never begets another (no chain), and never comes from weak evidence;
- never a face a person rejected for the creator, never one whose learned reference a person removed (a veto that
  stays, table learned_reference_vetoes); at most `learn_max_per_creator` per creator, chosen farthest first from
  the creator's references (diversity: a new pose or light, not a 40th copy of the same shot).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import psycopg

from face_assets.db.sql_files import read_sql
from face_assets.recognition.calibration_store import load_calibration, shipped_calibration
from face_assets.recognition.config import RecognitionConfig

NO_ANCHOR = -1.0  # anchor_confidence of a face whose creator has no anchor reference
DUPLICATE_SIMILARITY = 0.95  # a candidate this close to a reference is the same shot again: never learned


class Likelihood(Protocol):
    """What the rule needs of a calibration: per-face log likelihood ratios (face_assets.recognition.calibration)."""

    def log_likelihood_ratio(self, similarity) -> np.ndarray: ...


@dataclass(frozen=True)
class DefaultsLikelihood:
    """A likelihood model from a model's default thresholds, for a model nobody calibrated yet.

    MODEL_DEFAULTS state, per model: match_threshold sits at a false-accept rate of about 1e-3 (buffalo_l: ~0.28 at
    FAR 0.1% published; buffalo_sc: above every different-person pair measured), a face at auto_tag_threshold +
    auto_tag_margin is "seen very well" and one at auto_tag_threshold still well. Read as two normal distributions:
    - different people ~ N(0, sigma_i), sigma_i = match_threshold / z(1 - 1e-3) (= 3.09): ArcFace-type embeddings
      of different people are centred on 0;
    - the same person ~ N(mu_g, sigma_g) with mu_g = auto_tag_threshold + auto_tag_margin and auto_tag_threshold one
      standard deviation below it (sigma_g = auto_tag_margin).
    Normal tails promise odds nobody measured, so the LLR is bounded to +-ln(1e4): the defaults rest on figures down
    to a FAR of 1e-3, one decade beyond is the most a face may claim on them. Monotone like a calibration: above the
    point where the genuine density's lighter tail would turn the ratio down, it stays at its maximum.
    """

    match_threshold: float
    genuine_mean: float
    genuine_sd: float
    bound: float = math.log(1e4)

    @classmethod
    def from_config(cls, config: RecognitionConfig) -> DefaultsLikelihood:
        margin = max(float(config.auto_tag_margin), 1e-3)
        return cls(float(config.match_threshold), float(config.auto_tag_threshold) + margin, margin)

    @property
    def impostor_sd(self) -> float:
        return max(self.match_threshold, 1e-3) / 3.090232

    def log_likelihood_ratio(self, similarity) -> np.ndarray:
        s = np.asarray(similarity, dtype=np.float64)
        si, mg, sg = self.impostor_sd, self.genuine_mean, self.genuine_sd
        # ln N(s; mg, sg) - ln N(s; 0, si) is a parabola in s with its vertex at s*; a calibration is monotone, so
        # s is held on the increasing side of it (the other side only exists far outside the data's range).
        a = 0.5 * (1.0 / si**2 - 1.0 / sg**2)
        if abs(a) > 1e-12:
            vertex = -(mg / sg**2) / (2.0 * a)
            s = np.maximum(s, vertex) if a > 0 else np.minimum(s, vertex)
        llr = np.log(si / sg) - 0.5 * ((s - mg) / sg) ** 2 + 0.5 * (s / si) ** 2
        return np.clip(llr, -self.bound, self.bound)

    @property
    def max_log_likelihood_ratio(self) -> float:
        return self.bound

    def tail_threshold(self, far: float) -> float:
        """The similarity `far` of different people's pairs reach under N(0, sigma_i) (see the class)."""
        from scipy.stats import norm  # here: scipy's import is slow, and few callers need this

        return float(self.impostor_sd * norm.isf(min(max(far, 1e-300), 0.5)))

    def describe(self) -> str:
        return (
            f"defaults of the model (not calibrated): different people ~ N(0, {self.impostor_sd:.3f}), the same "
            f"person ~ N({self.genuine_mean:.2f}, {self.genuine_sd:.2f}), |LLR| <= {self.bound:.1f}"
        )


def likelihood_model(conn: psycopg.Connection | None, config: RecognitionConfig) -> Likelihood:
    """The model's calibration: the one stored with `calibrate --apply`, else the one shipped with the code
    (calibration_store.calibration_for; without a connection only the shipped one), else `DefaultsLikelihood` from
    its thresholds (a model nobody calibrated). A stored calibration that cannot be read falls back to the shipped
    one."""
    if not config.model:
        return DefaultsLikelihood.from_config(config)
    candidates = []
    if conn is not None:
        candidates.append(lambda: load_calibration(conn, config.model))
    candidates.append(lambda: shipped_calibration(config.model))
    for find in candidates:
        try:
            calibration = find()
        except (ValueError, KeyError):  # malformed JSON or other bin edges: not a usable calibration
            calibration = None
        if calibration is not None and calibration.n_genuine and calibration.n_impostor:
            return calibration
    return DefaultsLikelihood.from_config(config)


def describe_model(model: Likelihood) -> str:
    if hasattr(model, "describe"):
        return model.describe()
    source = getattr(model, "source", "?")
    return (
        f"calibration of {getattr(model, 'model', '?')} from {source} ({getattr(model, 'created_at', '?')}; "
        f"{getattr(model, 'n_genuine', '?')} genuine, {getattr(model, 'n_impostor', '?')} impostor pairs)"
    )


# --- the arithmetic ------------------------------------------------------------------------------


def face_llr(model: Likelihood, similarity, runner_up=None, n_creators: int = 1) -> np.ndarray:
    """Per face: L(s) - ln(1 + exp(L(r)) / N), N = `n_creators` (the gallery, see the module docstring; 1: the
    runner-up weighs as much as a stranger); a runner-up of NaN/None (no other allowed creator) takes nothing off."""
    s = np.asarray(similarity, dtype=np.float64)
    llr = np.asarray(model.log_likelihood_ratio(s), dtype=np.float64)
    if runner_up is None:
        return llr
    r = np.asarray(runner_up, dtype=np.float64)
    known = np.isfinite(r)
    if known.any():
        prior = math.log(max(int(n_creators), 1))
        runner_llr = np.asarray(model.log_likelihood_ratio(np.where(known, r, 0.0)), dtype=np.float64)
        penalty = np.logaddexp(0.0, runner_llr - prior)
        llr = llr - np.where(known, penalty, 0.0)
    return llr


def frame_weights(n: int, rho: float) -> np.ndarray:
    """Weights of the 1st..nth strongest frame: increments of n_eff(i) = i / (1 + (i - 1) rho)."""
    rho = min(max(float(rho), 0.0), 1.0)
    i = np.arange(n + 1, dtype=np.float64)
    n_eff = np.where(i > 0, i / (1.0 + np.maximum(i - 1, 0) * rho), 0.0)
    return np.diff(n_eff)


def fuse(
    frames: Sequence[int],
    llrs: Sequence[float],
    rho: float,
    faces_in_frame: Sequence[int] | None = None,
    tracks: Sequence[object] | None = None,
) -> float:
    """Fused LLR of one (video, creator): the best face per frame less ln(faces in that frame); the frames of one
    track (`tracks`: per entry, its face's track, None for a face in none) are one look, their mean; looks weighted
    by `frame_weights`. `faces_in_frame` (per entry: how many faces its frame holds) defaults to one each."""
    if len(llrs) == 0:
        return float("-inf")
    crowd = faces_in_frame if faces_in_frame is not None else [1] * len(llrs)
    track_of = tracks if tracks is not None else [None] * len(llrs)
    best: dict[int, tuple[float, object]] = {}
    for frame, value, m, track in zip(frames, llrs, crowd, track_of):
        value = float(value) - math.log(max(int(m), 1))
        if frame not in best or value > best[frame][0]:
            best[frame] = (value, track)
    looks: dict[object, list[float]] = {}
    for frame, (value, track) in best.items():
        looks.setdefault(("frame", frame) if track is None else ("track", track), []).append(value)
    values = np.sort(np.fromiter((sum(v) / len(v) for v in looks.values()), dtype=np.float64))[::-1]
    return float(np.dot(frame_weights(values.size, rho), values))


def target_llr(n_creators: int, max_false_rate: float) -> float:
    """ln(N / max_false_rate): see the module docstring."""
    rate = min(max(float(max_false_rate), 1e-12), 1.0)
    return math.log(max(int(n_creators), 1) / rate)


# --- per (video, creator) ------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceEvidence:
    detection_id: int
    frame_index: int
    similarity: float
    anchor_similarity: float
    runner_up_creator_id: int | None
    runner_up_similarity: float | None
    llr: float  # with the runner-up's margin
    anchor_llr: float  # the same, from the anchor references only
    faces_in_frame: int = 1  # every face detected in its frame (see `fuse`)
    track: int | None = None  # its track in the video (video_face_track_faces), None before tracks were built


@dataclass
class PairEvidence:
    """The evidence for one creator in one video, and the verdict of the rule."""

    video_id: int
    creator_id: int
    faces: list[FaceEvidence] = field(default_factory=list)  # machine evidence: undecided faces proposed for it
    manual_faces: int = 0  # faces a person confirmed as this creator (they keep a tag; not machine evidence)
    fused: float = float("-inf")
    anchored: float = float("-inf")
    target: float = float("inf")
    n_creators: int = 0
    max_false_rate: float = 0.01
    rho: float = 0.5

    @property
    def frames(self) -> int:
        return len({f.frame_index for f in self.faces})

    @property
    def best(self) -> float | None:
        return max((f.similarity for f in self.faces), default=None)

    @property
    def passes(self) -> bool:
        """THE rule: fused evidence reaches the target, and the anchors alone favour the creator."""
        return bool(self.faces) and self.fused >= self.target and self.anchored > 0.0

    @property
    def strong(self) -> bool:
        """The anchors alone reach the target: faces of this tag may be learned."""
        return self.passes and self.anchored >= self.target

    def reasons(self) -> list[str]:
        """Why the rule decided as it did, in words."""
        out = []
        if not self.faces:
            return [
                "no undecided face of this creator at or above match_threshold"
                + (f"; {self.manual_faces} face(s) confirmed by a person" if self.manual_faces else "")
            ]
        bound = math.exp(-self.target) * self.n_creators if math.isfinite(self.target) else float("nan")
        out.append(f"{len(self.faces)} face(s) in {self.frames} frame(s), best similarity {self.best:.3f}")
        out.append(
            f"fused evidence {self.fused:.2f} against the target {self.target:.2f} = ln({self.n_creators} "
            f"creators / {self.max_false_rate:g}) (false-tag rate <= {bound:g} per creator tested)"
        )
        out.append(
            f"evidence from pictures and confirmed faces alone (learned references left out): "
            f"{self.anchored:.2f} (must be > 0)"
        )
        if self.passes:
            out.append("TAGGED" + (" (strong: its faces may be learned)" if self.strong else ""))
        elif self.fused < self.target:
            out.append(f"not tagged: {self.target - self.fused:.2f} short of the target")
        else:
            out.append("not tagged: only learned references support it")
        return out


def _face_rows_to_pairs(rows, model: Likelihood, config: RecognitionConfig, n_creators: int) -> list[PairEvidence]:
    pairs: dict[tuple[int, int], PairEvidence] = {}
    machine = [r for r in rows if r[9]]
    if machine:
        sims = np.array([r[4] for r in machine], dtype=np.float64)
        anchors = np.array([r[4] if r[5] is None else r[5] for r in machine], dtype=np.float64)
        runner = np.array([np.nan if r[7] is None else r[7] for r in machine], dtype=np.float64)
        llr = face_llr(model, sims, runner, n_creators)
        anchor_llr = face_llr(model, anchors, runner, n_creators)
        for r, a, b, s_anchor in zip(machine, llr, anchor_llr, anchors):
            pair = pairs.setdefault((r[0], r[1]), PairEvidence(r[0], r[1]))
            pair.faces.append(
                FaceEvidence(
                    r[2],
                    r[3],
                    float(r[4]),
                    float(s_anchor),
                    r[6],
                    None if r[7] is None else float(r[7]),
                    float(a),
                    float(b),
                    int(r[10]),
                    r[11],
                )
            )
    for r in rows:
        if not r[9] and r[8] == "manual":
            pairs.setdefault((r[0], r[1]), PairEvidence(r[0], r[1])).manual_faces += 1
    target = target_llr(n_creators, config.auto_tag_max_false_rate)
    rho = config.evidence_frame_correlation
    for pair in pairs.values():
        pair.target, pair.n_creators, pair.max_false_rate, pair.rho = (
            target,
            n_creators,
            config.auto_tag_max_false_rate,
            rho,
        )
        if pair.faces:
            frames, crowd = [f.frame_index for f in pair.faces], [f.faces_in_frame for f in pair.faces]
            tracks = [f.track for f in pair.faces]
            pair.fused = fuse(frames, [f.llr for f in pair.faces], rho, crowd, tracks)
            pair.anchored = fuse(frames, [f.anchor_llr for f in pair.faces], rho, crowd, tracks)
    return [pairs[k] for k in sorted(pairs)]


def gallery_size(conn: psycopg.Connection) -> int:
    """N: the creators with at least one reference (every one is a candidate for every face)."""
    return int(conn.execute(read_sql("recognition/gallery_size.sql")).fetchone()[0])


def video_evidence(
    conn: psycopg.Connection,
    config: RecognitionConfig,
    video_ids: Iterable[int],
    model: Likelihood | None = None,
    n_creators: int | None = None,
) -> list[PairEvidence]:
    """The evidence per (video, creator) of `video_ids`, as stored now, with the rule's verdict."""
    rows = conn.execute(
        read_sql("recognition/evidence_faces.sql"),
        {"video_ids": sorted({int(v) for v in video_ids}), "match_threshold": config.match_threshold},
    ).fetchall()
    model = model or likelihood_model(conn, config)
    n = gallery_size(conn) if n_creators is None else n_creators
    return _face_rows_to_pairs(rows, model, config, n)


def explain(
    conn: psycopg.Connection, config: RecognitionConfig, video_id: int, creator_id: int | None = None
) -> list[str]:
    """Why video `video_id` was or was not tagged (with `creator_id`, or with each creator it has evidence for)."""
    model = likelihood_model(conn, config)
    pairs = [
        p for p in video_evidence(conn, config, [video_id], model) if creator_id is None or p.creator_id == creator_id
    ]
    names = dict(
        conn.execute(
            "SELECT id, name FROM creators WHERE id = ANY(%s)",
            ([p.creator_id for p in pairs] + ([creator_id] if creator_id else []),),
        ).fetchall()
    )
    tags = dict(
        conn.execute("SELECT creator_id, source FROM video_creators WHERE video_id = %s", (video_id,)).fetchall()
    )
    out = [f"video {video_id}: {describe_model(model)}; frame correlation {config.evidence_frame_correlation:g}"]
    if creator_id is not None and not pairs:
        out.append(
            f"{names.get(creator_id, '?')!r} ({creator_id}): no face of this video is proposed for this creator"
            + (f"; tagged ({tags[creator_id]})" if creator_id in tags else "")
        )
    for p in pairs:
        out.append(
            f"{names.get(p.creator_id, '?')!r} ({p.creator_id})"
            + (f": tag in video_creators ({tags[p.creator_id]})" if p.creator_id in tags else ": no tag")
        )
        out.extend(f"  {line}" for line in p.reasons())
        for f in sorted(p.faces, key=lambda f: -f.llr)[:10]:
            runner = (
                ""
                if f.runner_up_similarity is None
                else f", runner-up creator {f.runner_up_creator_id} at {f.runner_up_similarity:.3f}"
            )
            crowd = (
                f", one of {f.faces_in_frame} faces in its frame (-{math.log(f.faces_in_frame):.2f})"
                if f.faces_in_frame > 1
                else ""
            )
            out.append(
                f"    face {f.detection_id} frame {f.frame_index}: similarity {f.similarity:.3f} "
                f"(anchors {f.anchor_similarity:.3f}){runner}: LLR {f.llr:.2f}{crowd}"
            )
    return out


# --- learning ------------------------------------------------------------------------------------


@dataclass
class LearnSummary:
    learned: int = 0
    unlearned: int = 0  # learned references whose face no longer backs them (tag gone, decided by a person)
    candidates: int = 0


def learn_references(
    conn: psycopg.Connection,
    config: RecognitionConfig,
    pairs: Sequence[PairEvidence],
    model: Likelihood,
    video_ids: Sequence[int],
) -> LearnSummary:
    """Learned references follow the tags of `video_ids`: faces of strong tags join, stale ones leave.

    Runs after the tags and statuses are written (faces of tagged pairs are 'matched'). See the module docstring
    for which faces qualify and why.
    """
    summary = LearnSummary()
    summary.unlearned = len(
        conn.execute(read_sql("recognition/unlearn_stale.sql"), {"video_ids": list(video_ids)}).fetchall()
    )
    strong = [p for p in pairs if p.strong]
    cap = int(config.learn_max_per_creator)
    if not strong or cap <= 0:
        return summary
    wanted = {f.detection_id: f for p in strong for f in p.faces if f.anchor_llr > 0}
    if not wanted:
        return summary
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(read_sql("recognition/learn_candidates.sql"), {"ids": sorted(wanted)}).fetchall()
    summary.candidates = len(rows)
    if not rows:
        return summary
    by_creator: dict[int, list[tuple[int, np.ndarray]]] = {}
    for det_id, creator_id, embedding in rows:
        by_creator.setdefault(creator_id, []).append((det_id, _vec(embedding)))
    with conn.cursor(binary=True) as cur:
        refs = cur.execute(
            read_sql("recognition/creator_references.sql"), {"creator_ids": sorted(by_creator)}
        ).fetchall()
    existing: dict[int, list[np.ndarray]] = {}
    learned_count: dict[int, int] = {}
    for creator_id, learned, embedding in refs:
        existing.setdefault(creator_id, []).append(_vec(embedding))
        learned_count[creator_id] = learned_count.get(creator_id, 0) + int(learned)
    chosen_ids: list[int] = []
    for creator_id, candidates in by_creator.items():
        room = cap - learned_count.get(creator_id, 0)
        if room > 0:
            chosen_ids += choose_diverse(candidates, existing.get(creator_id, []), room)
    if chosen_ids:
        summary.learned = len(conn.execute(read_sql("recognition/learn_insert.sql"), {"ids": chosen_ids}).fetchall())
    return summary


def choose_diverse(
    candidates: Sequence[tuple[int, np.ndarray]], references: Sequence[np.ndarray], room: int
) -> list[int]:
    """Up to `room` candidate ids, farthest first: each pick is the candidate least like every reference and every
    earlier pick; candidates within DUPLICATE_SIMILARITY of one are never picked."""
    if not candidates or room <= 0:
        return []
    ids = [c[0] for c in candidates]
    x = np.stack([c[1] for c in candidates])
    dim = x.shape[1]
    refs = np.stack(references) if references else np.zeros((0, dim), np.float32)
    nearest = (x @ refs.T).max(axis=1) if refs.size else np.full(len(ids), -1.0, dtype=np.float32)
    picked: list[int] = []
    available = np.ones(len(ids), dtype=bool)
    while len(picked) < room:
        score = np.where(available & (nearest < DUPLICATE_SIMILARITY), nearest, np.inf)
        j = int(np.argmin(score))
        if not np.isfinite(score[j]):
            break
        picked.append(ids[j])
        available[j] = False
        nearest = np.maximum(nearest, x @ x[j])
    return picked


def _vec(value) -> np.ndarray:
    v = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def forget_references(conn: psycopg.Connection, embedding_ids: Sequence[int]) -> list[tuple[int, int]]:
    """A person removes learned references: they are deleted and their faces are never learned for that creator
    again (learned_reference_vetoes). Returns (embedding id, creator id) of those removed; others are ignored."""
    return [
        tuple(r)
        for r in conn.execute(
            read_sql("recognition/forget_references.sql"), {"ids": [int(i) for i in embedding_ids]}
        ).fetchall()
    ]
