"""Calibration: what a model's cosine similarities mean, measured as error rates.

A `Calibration` is what `face-assets calibrate` measures for one model and `--apply` stores: the genuine
(same person) and impostor (different people) similarity distributions, as histograms over the fixed bin edges
`BIN_EDGES`, the thresholds at false-accept rates (FAR) 1e-2, 1e-3, 1e-4 (and 1e-5, 1e-6 where there are enough
impostor pairs) with their true-accept rates (TAR), and where the numbers came from (pair set or library, date, how
much data). `calibration_store.suggested_settings` turns it into match and auto-tag thresholds (SETTING_FARS).

This module is the likelihood model and its arithmetic only. Measuring one (pair sets, the library's decisions,
report lines) is face_assets.recognition.calibration_measure; storing and finding one is
face_assets.recognition.calibration_store: JSON in `face_recognition_config` under the key `<model>.calibration`
(`store_calibration`, `load_calibration`), one calibration per model, the last one applied.

For evidence fusion, `Calibration.log_likelihood_ratio(similarity)` turns one face's similarity to a creator into
the natural log of P(similarity | same person) / P(similarity | different people). It is:
- monotone non-decreasing in the similarity (pool-adjacent-violators over the histogram bins: a higher
  similarity is never weaker evidence, even where the histograms are noisy);
- bounded in both tails: a virtual impostor pair is added at the top bin and a virtual genuine pair at the bottom
  one, so where no impostor was ever seen the ratio is what "at most one in N impostors" supports, never infinite;
  beyond the measured range it stays flat (no extrapolation);
- piecewise linear between the centres of the monotone blocks (no steps from one bin to the next).
Why the tail stays empirical (no normal or Pareto tail fitted beyond the data): on lfw_dev's 11.6 million impostor
pairs a normal fitted to the bulk (mean 0.020, sd 0.067) predicts 156 pairs at or above 0.30 where 1,146 were seen,
4 above 0.35 (128 seen), 0.1 above 0.40 (23 seen). The impostor tail is far heavier than normal, so extrapolating a
fitted one would overstate a face's evidence by 2 to 5 nats just where auto-tags are decided. The virtual impostor
is the conservative bound instead, and it is generous where the impostor set is large: with every pair of lfw_dev's
photos the largest LLR is 14.7 (a likelihood ratio of 2.3e6; the top impostors, LFW label errors at 0.55-0.69,
only flatten it above 0.47), far above the ln(N / auto_tag_max_false_rate) a video needs. A pair file alone
(~10^3 impostor pairs, `--pairs-only`) caps it near ln(10^3) ~ 7: `max_gallery` (printed by
calibration_measure.evidence_ceiling_lines) says, with each calibration, up to how many creators it can still
auto-tag.
Which calibration to use: `calibration_store.calibration_for(conn, model)`: the one stored with `--apply`, else the
one shipped in face_assets/recognition/calibrations/<model>.json (measured on a pair set), else None (no
calibration: fall back to the configured thresholds).

The prior is not in it: posterior log-odds = log prior odds + sum of independent LLRs. Faces of one person in
several frames of one video are NOT independent; the fusion rule has to account for that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

# Fixed histogram bin edges for every stored distribution (cosine similarity, [-1, 1] in steps of 0.005): fine
# enough that a threshold read from bins is within 0.005 of the exact one; 400 counts per distribution.
BIN_EDGES = np.round(np.linspace(-1.0, 1.0, 401), 6)
BIN_CENTRES = (BIN_EDGES[:-1] + BIN_EDGES[1:]) / 2
BIN_WIDTH = float(BIN_EDGES[1] - BIN_EDGES[0])

# `Calibration.tail_threshold`: below this false-accept rate the impostor tail is fitted, not read; the fit wants at
# least TAIL_FAR_PAIRS impostor pairs above its start (a pair set of 1,000,000 impostor pairs or more).
TAIL_FAR = 1e-4
TAIL_FAR_PAIRS = 100

# The false-accept rates thresholds are reported at (per comparison of one face with one person). 1e-5 and 1e-6
# only where there are enough impostor pairs (every pair of a few thousand photos gives ~10^7): a face is compared
# with every creator (1:N) and a library holds many faces, so the auto-tag cut lives that deep in the tail.
FARS: tuple[float, ...] = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)

# Pseudo-counts that keep the likelihood ratio finite in the tails (see the module docstring).
_TAIL_PSEUDO_COUNT = 1.0


def histogram(similarities: np.ndarray | Sequence[float]) -> np.ndarray:
    """Counts of `similarities` over BIN_EDGES (values outside [-1, 1] go to the end bins), int64."""
    s = np.clip(np.asarray(similarities, dtype=np.float64).ravel(), -1.0, 1.0)
    return np.histogram(s, bins=BIN_EDGES)[0].astype(np.int64)


@dataclass
class Calibration:
    """The measured similarity distributions of one model and the thresholds read from them.

    `thresholds[far]`: the lowest similarity at which at most `far` of the impostor pairs are accepted (None when
    there were fewer than 1/far impostor pairs: not measurable); `tar[far]`: the share of genuine pairs accepted
    there. `genuine_hist` / `impostor_hist`: counts over BIN_EDGES. `accuracy`: verification accuracy on the pair
    set (k-fold), None for a library calibration. `details`: provenance and sizes (pair file, folds, photos,
    no_face, seconds, ...), JSON-friendly.
    """

    model: str
    source: str  # "pairs:<pair file>" or "library"
    created_at: str  # ISO-8601 UTC
    genuine_hist: np.ndarray
    impostor_hist: np.ndarray
    thresholds: dict[float, float | None] = field(default_factory=dict)
    tar: dict[float, float | None] = field(default_factory=dict)
    accuracy: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.genuine_hist = np.asarray(self.genuine_hist, dtype=np.int64)
        self.impostor_hist = np.asarray(self.impostor_hist, dtype=np.int64)
        if self.genuine_hist.shape != BIN_CENTRES.shape or self.impostor_hist.shape != BIN_CENTRES.shape:
            raise ValueError(f"histograms must have {BIN_CENTRES.size} bins (BIN_EDGES)")
        self._llr_table: tuple[np.ndarray, np.ndarray] | None = None

    # --- sizes and rates ---

    @property
    def n_genuine(self) -> int:
        return int(self.genuine_hist.sum())

    @property
    def n_impostor(self) -> int:
        return int(self.impostor_hist.sum())

    def far_at(self, threshold: float) -> float:
        """Share of impostor pairs at or above `threshold` (bin resolution: bins whose lower edge is >= it)."""
        return _tail_share(self.impostor_hist, threshold)

    def tar_at(self, threshold: float) -> float:
        """Share of genuine pairs at or above `threshold` (bin resolution)."""
        return _tail_share(self.genuine_hist, threshold)

    def threshold(self, far: float) -> float | None:
        """The stored threshold at `far` if measured, else one read from the impostor histogram (None when there
        are fewer than 1/far impostor pairs)."""
        if far in self.thresholds:
            return self.thresholds[far]
        n = self.n_impostor
        if n * far < 1:
            return None
        above = np.cumsum(self.impostor_hist[::-1])[::-1]  # impostors in bin k and above
        ok = np.nonzero(above <= far * n)[0]
        return float(BIN_EDGES[ok[0]]) if ok.size else 1.0

    def tail_threshold(self, far: float) -> float | None:
        """The similarity about `far` of the impostor pairs reach, also beyond what the pairs can measure.

        Down to TAIL_FAR it is the measured threshold. Below, a peaks-over-threshold estimate: the impostor scores
        above the TAIL_FAR threshold u, their excesses over u taken as exponential (the generalised Pareto tail
        with shape 0, the extreme-value limit of the light-tailed, near-normal scores of different people), with
        the mean excess m measured on them: FAR(s) = FAR(u) exp(-(s - u) / m). Why not the measured threshold all
        the way down: its last few pairs are a pair set's labelling errors as much as different people (lfw_dev:
        ~8 "different people" pairs above 0.5 (FAR 7e-7), such as two photos whose central face is the same man);
        the ~1,100 pairs above u (FAR 1e-4) set m, and a few mislabelled ones among them only make it heavier,
        which errs towards a higher threshold. None without the TAIL_FAR_PAIRS impostors that fit needs.
        """
        if far >= TAIL_FAR:
            return self.threshold(far)
        if self.n_impostor * TAIL_FAR < TAIL_FAR_PAIRS:
            return None
        u = self.threshold(TAIL_FAR)
        if u is None:
            return None
        k = int(np.searchsorted(BIN_EDGES[:-1], u - 1e-9, side="left"))
        above = self.impostor_hist[k:]
        count = int(above.sum())
        if count == 0:
            return u
        mean_excess = max(float((above * (BIN_CENTRES[k:] - u)).sum()) / count, BIN_WIDTH / 2)
        return float(u + mean_excess * math.log((count / self.n_impostor) / far))

    # --- likelihood ratios ---

    def log_likelihood_ratio(self, similarity: np.ndarray | float) -> np.ndarray:
        """ln P(s | same person) / P(s | different people) for each similarity; monotone, finite, same shape."""
        centres, llr = self._llr()
        s = np.asarray(similarity, dtype=np.float64)
        return np.interp(s, centres, llr)

    @property
    def max_log_likelihood_ratio(self) -> float:
        """The largest LLR this calibration can give (its upper tail's plateau)."""
        return float(self._llr()[1][-1])

    def _llr(self) -> tuple[np.ndarray, np.ndarray]:
        if self._llr_table is None:
            self._llr_table = _pav_llr(self.genuine_hist, self.impostor_hist)
        return self._llr_table

    # --- serialisation ---

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "created_at": self.created_at,
            "accuracy": self.accuracy,
            "n_genuine": self.n_genuine,
            "n_impostor": self.n_impostor,
            "thresholds": [
                {"far": far, "threshold": self.thresholds.get(far), "tar": self.tar.get(far)}
                for far in sorted(set(self.thresholds) | set(self.tar), reverse=True)
            ],
            "bin_edges": {"start": float(BIN_EDGES[0]), "stop": float(BIN_EDGES[-1]), "bins": int(BIN_CENTRES.size)},
            "genuine_hist": _sparse(self.genuine_hist),
            "impostor_hist": _sparse(self.impostor_hist),
            "details": self.details,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        edges = data.get("bin_edges", {})
        if edges and (
            edges.get("bins") != BIN_CENTRES.size
            or edges.get("start") != float(BIN_EDGES[0])
            or edges.get("stop") != float(BIN_EDGES[-1])
        ):
            raise ValueError(f"calibration stored with other bin edges: {edges}")
        rows = data.get("thresholds", [])
        return cls(
            model=data["model"],
            source=data["source"],
            created_at=data["created_at"],
            genuine_hist=_dense(data["genuine_hist"]),
            impostor_hist=_dense(data["impostor_hist"]),
            thresholds={float(r["far"]): r.get("threshold") for r in rows},
            tar={float(r["far"]): r.get("tar") for r in rows},
            accuracy=data.get("accuracy"),
            details=data.get("details", {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_scores(
        cls,
        model: str,
        source: str,
        genuine: np.ndarray | Sequence[float],
        impostor: np.ndarray | Sequence[float],
        *,
        accuracy: float | None = None,
        details: dict[str, Any] | None = None,
        fars: Iterable[float] = FARS,
        created_at: str | None = None,
    ) -> Calibration:
        """A calibration from raw genuine and impostor similarities; thresholds are exact (not binned)."""
        genuine = np.asarray(genuine, dtype=np.float64).ravel()
        impostor = np.asarray(impostor, dtype=np.float64).ravel()
        thresholds, tars = {}, {}
        for far in fars:
            t = threshold_at_far(impostor, far)
            thresholds[far] = None if t is None else round(t, 6)
            tars[far] = None if t is None or genuine.size == 0 else round(float(np.mean(genuine >= t)), 6)
        return cls(
            model=model,
            source=source,
            created_at=created_at or now_iso(),
            genuine_hist=histogram(genuine),
            impostor_hist=histogram(impostor),
            thresholds=thresholds,
            tar=tars,
            accuracy=accuracy,
            details=dict(details or {}),
        )


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# --- thresholds -------------------------------------------------------------------------------------


def threshold_at_far(impostor: np.ndarray | Sequence[float], far: float) -> float | None:
    """The lowest threshold t (accept when similarity >= t) that accepts at most `far` of `impostor`.

    None when there are fewer than 1/far impostor scores: such a rate cannot be measured on them. The threshold
    sits just above the highest impostor score that must be rejected (its next float up), so it is exact on the
    data, not interpolated.
    """
    s = np.sort(np.asarray(impostor, dtype=np.float64).ravel())[::-1]
    n = s.size
    if n == 0 or n * far < 1:
        return None
    allowed = int(math.floor(far * n + 1e-9))  # impostors that may be accepted
    # Accept the top `allowed` scores at most; ties with the first rejected score must be rejected too.
    return float(np.nextafter(s[allowed], np.inf))


# --- the likelihood ratio ------------------------------------------------------------------------------


def _pav_llr(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(block centres, LLR per block) from binned counts: PAV on P(genuine | bin), prior removed.

    Pseudo-counts: one impostor in the top bin and one genuine in the bottom bin, so no block is pure and every
    LLR is finite. With no data at all (or one class missing) the LLR is 0 everywhere: no evidence.
    """
    g = genuine.astype(np.float64).copy()
    i = impostor.astype(np.float64).copy()
    if g.sum() == 0 or i.sum() == 0:
        return np.array([-1.0, 1.0]), np.zeros(2)
    nonzero = np.nonzero((g + i) > 0)[0]
    lo, hi = nonzero[0], nonzero[-1]
    g[lo] += _TAIL_PSEUDO_COUNT
    i[hi] += _TAIL_PSEUDO_COUNT
    # PAV over the non-empty bins, in order of similarity; each block: genuine count, total count, weighted centre.
    blocks: list[list[float]] = []  # [genuine, total, sum of centre * total]
    for k in np.nonzero((g + i) > 0)[0]:
        blocks.append([g[k], g[k] + i[k], BIN_CENTRES[k] * (g[k] + i[k])])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            blocks[-1] = [a + b for a, b in zip(blocks[-1], last)]
    n_g, n_i = g.sum(), i.sum()
    prior = math.log(n_g / n_i)
    centres = np.array([b[2] / b[1] for b in blocks])
    llr = np.array([math.log(b[0] / (b[1] - b[0])) - prior for b in blocks])
    if centres.size == 1:
        centres, llr = np.array([-1.0, 1.0]), np.repeat(llr, 2)
    return centres, llr


def _tail_share(hist: np.ndarray, threshold: float) -> float:
    n = hist.sum()
    if n == 0:
        return float("nan")
    k = int(np.searchsorted(BIN_EDGES[:-1], threshold, side="left"))
    return float(hist[k:].sum() / n)


def _sparse(hist: np.ndarray) -> dict[str, int]:
    """Non-zero bins as {bin index: count} (JSON keys are strings)."""
    return {str(int(k)): int(hist[k]) for k in np.nonzero(hist)[0]}


def _dense(sparse: dict[str, int] | Sequence[int]) -> np.ndarray:
    out = np.zeros(BIN_CENTRES.size, dtype=np.int64)
    if isinstance(sparse, dict):
        for k, v in sparse.items():
            out[int(k)] = int(v)
    else:
        out[:] = np.asarray(sparse, dtype=np.int64)
    return out


def max_gallery(cal: Calibration, frame_correlation: float, max_false_rate: float) -> float:
    """The largest gallery (creators with references) in which this calibration can still auto-tag a video.

    The auto-tag rule (face_assets.recognition.evidence) needs a fused LLR of ln(N / max_false_rate), and n frames
    of one face count as at most 1/rho independent looks: so N <= max_false_rate x exp(max LLR / rho).
    """
    if cal.n_genuine == 0 or cal.n_impostor == 0:
        return 0.0
    rho = min(max(float(frame_correlation), 1e-6), 1.0)
    return float(max_false_rate) * math.exp(min(cal.max_log_likelihood_ratio / rho, 700.0))
