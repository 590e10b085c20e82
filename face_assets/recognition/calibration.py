"""Calibration: what a model's cosine similarities mean, measured as error rates.

A `Calibration` is what `face-assets calibrate` measures for one model and `--apply` stores: the genuine
(same person) and impostor (different people) similarity distributions, as histograms over the fixed bin edges
`BIN_EDGES`, the thresholds at false-accept rates (FAR) 1e-2, 1e-3, 1e-4 (and 1e-5, 1e-6 where there are enough
impostor pairs) with their true-accept rates (TAR), and where the numbers came from (pair set or library, date, how
much data). `suggested_settings` turns it into match and auto-tag thresholds (SETTING_FARS).

Stored as JSON in `face_recognition_config` under the key `<model>.calibration` (`store_calibration`,
`load_calibration`); one calibration per model, the last one applied.

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
(~10^3 impostor pairs, `--pairs-only`) caps it near ln(10^3) ~ 7: `evidence_ceiling_lines` says, with each
calibration, up to how many creators it can still auto-tag.
Which calibration to use: `calibration_for(conn, model)`: the one stored with `--apply`, else the one shipped in
face_assets/recognition/calibrations/<model>.json (measured on a pair set), else None (no calibration: fall
back to the configured thresholds).

The prior is not in it: posterior log-odds = log prior odds + sum of independent LLRs. Faces of one person in
several frames of one video are NOT independent; the fusion rule has to account for that.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

# Fixed histogram bin edges for every stored distribution (cosine similarity, [-1, 1] in steps of 0.005): fine
# enough that a threshold read from bins is within 0.005 of the exact one; 400 counts per distribution.
BIN_EDGES = np.round(np.linspace(-1.0, 1.0, 401), 6)
BIN_CENTRES = (BIN_EDGES[:-1] + BIN_EDGES[1:]) / 2

# The false-accept rates thresholds are reported at (per comparison of one face with one person). 1e-5 and 1e-6
# only where there are enough impostor pairs (every pair of a few thousand photos gives ~10^7): a face is compared
# with every creator (1:N) and a library holds many faces, so the auto-tag cut lives that deep in the tail.
FARS: tuple[float, ...] = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)

# How a calibration sets the threshold settings (`suggested_settings`, `--apply`, MODEL_DEFAULTS):
# - match_threshold (a candidate for review) at FAR 1e-4: a stranger's face is proposed for one of N creators with
#   probability ~N x 1e-4, under 1% up to 100 creators, so the review queue stays short;
# - auto_tag_threshold (a face seen well) at FAR 1e-6: a library holds ~10^5..10^6 (face, creator) comparisons per
#   thousand videos, so a face seen well must be a one-in-a-million impostor score.
# Each is rounded UP to a multiple of 0.05: never below the measured cut, and the deep tail rests on a few dozen
# pairs (its estimate is no finer than a few hundredths anyway).
# Clustering links chain (A~B, B~C joins A and C), so a link's false-accept rate adds up along a cluster: its
# threshold sits a decade stricter than a match's.
SETTING_FARS: dict[str, float] = {"match_threshold": 1e-4, "cluster_similarity": 1e-5, "auto_tag_threshold": 1e-6}
SETTING_STEP = 0.05

CONFIG_KEY_SUFFIX = "calibration"  # face_recognition_config key: "<model>.calibration"

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
    source: str                      # "pairs:<pair file>" or "library"
    created_at: str                  # ISO-8601 UTC
    genuine_hist: np.ndarray
    impostor_hist: np.ndarray
    thresholds: dict[float, Optional[float]] = field(default_factory=dict)
    tar: dict[float, Optional[float]] = field(default_factory=dict)
    accuracy: Optional[float] = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.genuine_hist = np.asarray(self.genuine_hist, dtype=np.int64)
        self.impostor_hist = np.asarray(self.impostor_hist, dtype=np.int64)
        if self.genuine_hist.shape != BIN_CENTRES.shape or self.impostor_hist.shape != BIN_CENTRES.shape:
            raise ValueError(f"histograms must have {BIN_CENTRES.size} bins (BIN_EDGES)")
        self._llr_table: Optional[tuple[np.ndarray, np.ndarray]] = None

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

    def threshold(self, far: float) -> Optional[float]:
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
            "thresholds": [{"far": far, "threshold": self.thresholds.get(far), "tar": self.tar.get(far)}
                           for far in sorted(set(self.thresholds) | set(self.tar), reverse=True)],
            "bin_edges": {"start": float(BIN_EDGES[0]), "stop": float(BIN_EDGES[-1]), "bins": int(BIN_CENTRES.size)},
            "genuine_hist": _sparse(self.genuine_hist),
            "impostor_hist": _sparse(self.impostor_hist),
            "details": self.details,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Calibration":
        edges = data.get("bin_edges", {})
        if edges and (edges.get("bins") != BIN_CENTRES.size or edges.get("start") != float(BIN_EDGES[0])
                      or edges.get("stop") != float(BIN_EDGES[-1])):
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
    def from_json(cls, text: str) -> "Calibration":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_scores(
        cls,
        model: str,
        source: str,
        genuine: np.ndarray | Sequence[float],
        impostor: np.ndarray | Sequence[float],
        *,
        accuracy: Optional[float] = None,
        details: Optional[dict[str, Any]] = None,
        fars: Iterable[float] = FARS,
        created_at: Optional[str] = None,
    ) -> "Calibration":
        """A calibration from raw genuine and impostor similarities; thresholds are exact (not binned)."""
        genuine = np.asarray(genuine, dtype=np.float64).ravel()
        impostor = np.asarray(impostor, dtype=np.float64).ravel()
        thresholds, tars = {}, {}
        for far in fars:
            t = threshold_at_far(impostor, far)
            thresholds[far] = None if t is None else round(t, 6)
            tars[far] = None if t is None or genuine.size == 0 else round(float(np.mean(genuine >= t)), 6)
        return cls(
            model=model, source=source, created_at=created_at or now_iso(),
            genuine_hist=histogram(genuine), impostor_hist=histogram(impostor),
            thresholds=thresholds, tar=tars, accuracy=accuracy, details=dict(details or {}),
        )


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# --- threshold and accuracy arithmetic ---------------------------------------------------------------


def threshold_at_far(impostor: np.ndarray | Sequence[float], far: float) -> Optional[float]:
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


def _best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold with the highest accuracy on (scores, same): the midpoint between two consecutive distinct
    scores (or just outside the range), ties broken towards the middle of the best run."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], same[order].astype(np.int64)
    # Threshold between s[k-1] and s[k] (k = 0..n): pairs k.. are accepted.
    # correct(k) = (#different among 0..k-1) + (#same among k..n-1)
    diff_below = np.concatenate([[0], np.cumsum(1 - y)])
    same_above = y.sum() - np.concatenate([[0], np.cumsum(y)])
    correct = diff_below + same_above
    # only cut between distinct scores
    valid = np.ones(s.size + 1, dtype=bool)
    valid[1:-1] = s[1:] != s[:-1]
    correct = np.where(valid, correct, -1)
    best = np.nonzero(correct == correct.max())[0]
    k = int(best[len(best) // 2])
    if k == 0:
        return float(s[0] - 1e-6)
    if k == s.size:
        return float(s[-1] + 1e-6)
    return float((s[k - 1] + s[k]) / 2)


def kfold_accuracy(
    scores: np.ndarray | Sequence[float],
    same: np.ndarray | Sequence[bool],
    folds: np.ndarray | Sequence[int],
) -> tuple[float, list[dict[str, float]]]:
    """Verification accuracy with the threshold chosen on the other folds (LFW's protocol).

    Returns (mean accuracy over folds, per fold: threshold, accuracy, pairs). One fold only: the caller
    assigns cross-validation folds (see `cv_folds`).
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    folds = np.asarray(folds)
    per_fold = []
    for f in np.unique(folds):
        test = folds == f
        if test.all():
            raise ValueError("k-fold accuracy needs at least two folds")
        t = _best_threshold(scores[~test], same[~test])
        acc = float(np.mean((scores[test] >= t) == same[test]))
        per_fold.append({"fold": int(f), "threshold": t, "accuracy": acc, "pairs": int(test.sum())})
    return float(np.mean([p["accuracy"] for p in per_fold])), per_fold


def cv_folds(same: np.ndarray | Sequence[bool], k: int = 10) -> np.ndarray:
    """Deterministic stratified fold numbers 0..k-1: the i-th same pair and the i-th different pair go to fold
    i mod k (pair files list each class in an order unrelated to the score)."""
    same = np.asarray(same, dtype=bool)
    folds = np.zeros(same.size, dtype=np.int64)
    for cls in (True, False):
        idx = np.nonzero(same == cls)[0]
        folds[idx] = np.arange(idx.size) % k
    return folds


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


# --- storage -----------------------------------------------------------------------------------------


def config_key(model: str) -> str:
    from face_assets.recognition.config import model_key

    return f"{model_key(model)}.{CONFIG_KEY_SUFFIX}"


def load_calibration(conn, model: str) -> Optional[Calibration]:
    """The calibration stored for `model` (a pack name or folder), or None."""
    row = conn.execute("SELECT value FROM face_recognition_config WHERE key = %s", (config_key(model),)).fetchone()
    return Calibration.from_json(row[0]) if row else None


# Calibrations measured for models the project ships defaults for (face-assets calibrate --report on a pair set,
# the report's "calibration" entry): used when a database has none stored for its model.
SHIPPED_DIR = Path(__file__).resolve().parent / "calibrations"


def shipped_calibration(model: str) -> Optional[Calibration]:
    """The calibration shipped with the code for `model` (face_assets/recognition/calibrations/<model>.json), or
    None (e.g. buffalo_l: nobody measured it here yet)."""
    from face_assets.recognition.config import model_key

    return _read_shipped(model_key(model))


@functools.lru_cache(maxsize=8)
def _read_shipped(key: str) -> Optional[Calibration]:
    # Read once per process: the auto-tag rule asks for it on every batch, and the file only changes with the code.
    path = SHIPPED_DIR / f"{key}.json"
    return Calibration.from_json(path.read_text()) if path.exists() else None


def calibration_for(conn, model: str) -> Optional[Calibration]:
    """The calibration to use for `model`: the one stored in the database (`--apply`), else the shipped one."""
    return load_calibration(conn, model) or shipped_calibration(model)


def suggested_settings(cal: Calibration) -> dict[str, float]:
    """The threshold settings `cal` measures (SETTING_FARS), rounded up to SETTING_STEP; those it cannot measure
    (too few impostor pairs) are left out."""
    out = {}
    for key, far in SETTING_FARS.items():
        t = cal.thresholds.get(far)
        if t is not None:
            out[key] = round(math.ceil(t / SETTING_STEP - 1e-9) * SETTING_STEP, 4)
    if "match_threshold" in out and out.get("auto_tag_threshold", 1.0) < out["match_threshold"]:
        out["auto_tag_threshold"] = out["match_threshold"]
    return out


def apply_calibration(conn, cal: Calibration) -> dict[str, float]:
    """Store `cal` and its suggested settings as per-model rows `<model>.<key>` (face_assets.recognition_config:
    a per-model row wins over MODEL_DEFAULTS). Returns the settings written."""
    from face_assets.db.sql_files import read_sql

    settings = suggested_settings(cal)
    with conn.transaction():
        store_calibration(conn, cal)
        for key, value in settings.items():
            conn.execute(read_sql("recognition/store_calibration.sql"),
                         {"key": f"{cal.model}.{key}", "value": f"{value:g}"})
    return settings


def store_calibration(conn, cal: Calibration) -> None:
    """Store `cal` as its model's calibration (replacing the previous one), in one statement."""
    from face_assets.db.sql_files import read_sql

    conn.execute(read_sql("recognition/store_calibration.sql"), {"key": config_key(cal.model), "value": cal.to_json()})


# --- pair sets in LFW's format -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    name1: str
    i: int
    name2: str
    j: int
    fold: int

    @property
    def same(self) -> bool:
        return self.name1 == self.name2


@dataclass(frozen=True)
class PairSet:
    folds: int
    per_fold: Optional[int]  # pairs per class per fold, as the header says (None: not given)
    pairs: tuple[Pair, ...]

    def photos(self) -> list[tuple[str, int]]:
        """Every (name, i) the pairs name, sorted."""
        return sorted({(p.name1, p.i) for p in self.pairs} | {(p.name2, p.j) for p in self.pairs})


def parse_pairs(path: Path | str) -> PairSet:
    """Read a pair file in LFW's format.

    First line: `folds<TAB>n` (n same-person then n different-person pairs per fold), or one number `n` (one
    fold). Then `name<TAB>i<TAB>j` (same person) and `name1<TAB>i<TAB>name2<TAB>j` (different people) lines, any
    whitespace between fields. The fold of a pair is its position over 2n lines per fold; a file whose line count
    does not match its header is an error (a truncated download would otherwise bias the accuracy).
    """
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: empty pair file")
    header = lines[0]
    try:
        numbers = [int(x) for x in header]
    except ValueError:
        numbers = []
    if len(numbers) == 2:
        folds, per_fold = numbers
        body = lines[1:]
    elif len(numbers) == 1:
        folds, per_fold = 1, numbers[0]
        body = lines[1:]
    else:  # no header: one fold of whatever follows
        folds, per_fold, body = 1, None, lines
    if folds < 1:
        raise ValueError(f"{path}: header says {folds} folds")
    if per_fold is not None and len(body) != folds * 2 * per_fold:
        raise ValueError(f"{path}: header says {folds} fold(s) of 2 x {per_fold} pairs = {folds * 2 * per_fold} "
                         f"lines, found {len(body)}")
    size = len(body) // folds if folds else len(body)
    pairs = []
    for k, parts in enumerate(body):
        try:
            if len(parts) == 3:
                pair = (parts[0], int(parts[1]), parts[0], int(parts[2]))
            elif len(parts) == 4:
                pair = (parts[0], int(parts[1]), parts[2], int(parts[3]))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"{path}: line {k + 2}: expected `name i j` or `name1 i name2 j`, got {' '.join(parts)!r}")
        pairs.append(Pair(*pair, fold=min(k // size, folds - 1) if size else 0))
    return PairSet(folds=folds, per_fold=per_fold, pairs=tuple(pairs))


def photo_path(images: Path, name: str, i: int) -> Path:
    """LFW's layout: photo i of `name` is <images>/<name>/<name>_<i as 4 digits>.jpg."""
    return Path(images) / name / f"{name}_{i:04d}.jpg"


def list_photos(images: Path) -> list[tuple[str, int]]:
    """Every (name, i) under `images` in LFW's layout (other files are ignored)."""
    out = []
    for folder in sorted(p for p in Path(images).iterdir() if p.is_dir()):
        prefix = folder.name + "_"
        for f in folder.glob(f"{folder.name}_*.jpg"):
            number = f.stem[len(prefix):]
            if number.isdigit():
                out.append((folder.name, int(number)))
    return sorted(out)


# --- embedding photos through FaceEngine, cached --------------------------------------------------------


def engine_fingerprint(engine) -> str:
    """What makes embeddings of one photo differ: pack files, detector settings, providers (GPU runs may differ
    in the last digits). Part of the cache folder's name."""
    import hashlib

    info = engine.model_info()
    model_dir = Path(info["model_dir"])
    files = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in sorted(model_dir.glob("*.onnx"))]
    key = json.dumps([files, info["det_size"], info["det_threshold"], info["detector"], info["recognizer"],
                      info["providers"][0]])
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def cache_dir(engine) -> Path:
    from face_assets import settings
    from face_assets.recognition.config import model_key

    return settings.home() / "calibration_cache" / f"{model_key(engine.model_name)}-{engine_fingerprint(engine)}"


def _central_face(faces, shape) -> Optional[np.ndarray]:
    """The embedding of the face whose box centre is nearest the image centre (LFW labels that one)."""
    if not faces:
        return None
    cy, cx = shape[0] / 2, shape[1] / 2

    def distance(face) -> float:
        x1, y1, x2, y2 = face.bbox
        return ((x1 + x2) / 2 - cx) ** 2 + ((y1 + y2) / 2 - cy) ** 2

    return np.asarray(min(faces, key=distance).embedding, dtype=np.float32)


def embed_photos(
    engine,
    paths: Sequence[Path],
    *,
    cache: Optional[Path] = None,
    batch: int = 32,
    progress=None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(embeddings (n, d) float32, has_face (n,) bool, stats) of the central face of each photo.

    Each photo's result is cached as `<cache>/<sha1 of path, size, mtime>.npy` (an empty array: no face), so a
    rerun, or a run that was stopped half way, only embeds what is new. Photos go to `engine.detect` `batch` at a
    time: its frame_workers spread them over the cores. An unreadable photo counts as no face.
    """
    import hashlib
    import time

    import cv2

    cache = Path(cache) if cache is not None else cache_dir(engine)
    cache.mkdir(parents=True, exist_ok=True)
    results: list[Optional[np.ndarray]] = [None] * len(paths)
    keys = []
    todo = []
    for k, p in enumerate(paths):
        st = Path(p).stat()
        key = hashlib.sha1(f"{Path(p).resolve()}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()
        keys.append(key)
        f = cache / f"{key}.npy"
        if f.exists():
            results[k] = np.load(f)
        else:
            todo.append(k)
    start = time.monotonic()
    for b in range(0, len(todo), batch):
        chunk = todo[b:b + batch]
        images = [cv2.imread(str(paths[k])) for k in chunk]
        readable = [k for k, im in zip(chunk, images) if im is not None]
        found = engine.detect([im for im in images if im is not None])
        by_index = dict(zip(readable, zip(found, [im.shape for im in images if im is not None])))
        for k in chunk:
            emb = _central_face(*by_index[k]) if k in by_index else None
            results[k] = emb if emb is not None else np.zeros(0, np.float32)
            np.save(cache / f"{keys[k]}.npy", results[k])
        if progress:
            progress(min(b + batch, len(todo)), len(todo))
    seconds = time.monotonic() - start
    dim = next((r.size for r in results if r is not None and r.size), 512)
    has_face = np.array([r is not None and r.size > 0 for r in results], dtype=bool)
    emb = np.zeros((len(paths), dim), np.float32)
    for k, r in enumerate(results):
        if has_face[k]:
            emb[k] = r
    stats = {"photos": len(paths), "embedded_now": len(todo), "from_cache": len(paths) - len(todo),
             "seconds": round(seconds, 1),
             "photos_per_second": round(len(todo) / seconds, 2) if todo and seconds > 0 else None}
    return emb, has_face, stats


# --- calibrating on a pair set -------------------------------------------------------------------------


def _all_pair_scores(emb: np.ndarray, labels: np.ndarray, max_far: float, chunk: int = 512):
    """Genuine scores (every pair of photos of one person) and the impostor histogram, count and top scores
    (every pair of photos of two people), without holding the n x n matrix: rows `chunk` at a time. The top
    ceil(max_far * n_impostor) + 1 impostor scores are kept, enough for exact thresholds down to max_far."""
    n = emb.shape[0]
    _, counts = np.unique(labels, return_counts=True)
    n_same = int((counts * (counts - 1) // 2).sum())
    n_imp = n * (n - 1) // 2 - n_same
    keep = int(math.ceil(max_far * n_imp)) + 1
    genuine, top = [], np.zeros(0, np.float32)
    imp_hist = np.zeros(BIN_CENTRES.size, np.int64)
    for a in range(0, n, chunk):
        sims = emb[a:a + chunk] @ emb.T  # (c, n)
        rows = np.arange(a, min(a + chunk, n))[:, None]
        upper = np.arange(n)[None, :] > rows
        same = labels[a:a + chunk][:, None] == labels[None, :]
        genuine.append(sims[upper & same])
        imp = sims[upper & ~same]
        imp_hist += histogram(imp)
        if imp.size:
            merged = np.concatenate([top, imp.astype(np.float32)])
            top = merged if merged.size <= keep else np.partition(merged, merged.size - keep)[-keep:]
    return np.concatenate(genuine) if genuine else np.zeros(0), imp_hist, n_imp, np.sort(top)[::-1]


def _thresholds_from_top(top_desc: np.ndarray, n_impostor: int, genuine: np.ndarray, fars: Iterable[float]):
    thresholds, tars = {}, {}
    for far in fars:
        if n_impostor * far < 1:
            thresholds[far] = tars[far] = None
            continue
        allowed = int(math.floor(far * n_impostor + 1e-9))
        t = float(np.nextafter(np.float64(top_desc[allowed]), np.inf))
        thresholds[far] = round(t, 6)
        tars[far] = round(float(np.mean(genuine >= t)), 6) if genuine.size else None
    return thresholds, tars


def describe(scores: np.ndarray) -> dict[str, Any]:
    """n, mean, sd and percentiles of a score sample, rounded (for reports)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return {"n": 0}
    q = np.percentile(s, [0.1, 1, 5, 50, 95, 99, 99.9])
    keys = ("p0.1", "p1", "p5", "median", "p95", "p99", "p99.9")
    return {"n": int(s.size), "mean": round(float(s.mean()), 4), "sd": round(float(s.std()), 4),
            "min": round(float(s.min()), 4), **{k: round(float(v), 4) for k, v in zip(keys, q)},
            "max": round(float(s.max()), 4)}


@dataclass
class PairReport:
    """What `calibrate --pairs` measured: the calibration plus the pair-set protocol figures."""

    calibration: Calibration
    accuracy: float
    accuracy_folds: list[dict[str, float]]
    no_face: list[str]  # photo paths (relative to the images folder) without a face
    pair_scores: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        cal = self.calibration
        return {
            "model": cal.model,
            "date": cal.created_at,
            "source": cal.source,
            "accuracy": round(self.accuracy, 5),
            "accuracy_folds": self.accuracy_folds,
            "no_face": len(self.no_face),
            "no_face_photos": self.no_face,
            "pairs": self.pair_scores,
            "genuine": describe_hist(cal.genuine_hist),
            "impostor": describe_hist(cal.impostor_hist),
            "thresholds": [{"far": far, "threshold": cal.thresholds.get(far), "tar": cal.tar.get(far)}
                           for far in sorted(cal.thresholds, reverse=True)],
            "details": cal.details,
            "calibration": cal.to_dict(),
        }

    def lines(self) -> list[str]:
        cal, d = self.calibration, self.calibration.details
        out = [f"model {cal.model}, {cal.created_at}, {cal.source}",
               f"photos: {d.get('photos')} ({d.get('no_face')} without a face), embedding: {d.get('embedding')}",
               f"accuracy: {self.accuracy:.4f} ({d.get('accuracy_protocol')}, {len(self.accuracy_folds)} folds, "
               f"{self.pair_scores['genuine'].get('n', 0) + self.pair_scores['impostor'].get('n', 0)} pairs)"]
        for kind in ("genuine", "impostor"):
            s = self.pair_scores[kind]
            if s.get("n"):
                out.append(f"  pair file {kind}: n={s['n']} mean {s['mean']:.3f} p1 {s['p1']:.3f} median "
                           f"{s['median']:.3f} p99 {s['p99']:.3f}")
        out.append(f"distributions (every pair of photos): genuine n={cal.n_genuine}, impostor n={cal.n_impostor}")
        out += _threshold_lines(cal)
        return out


def _threshold_lines(cal: Calibration) -> list[str]:
    out = []
    for far in sorted(cal.thresholds, reverse=True):
        t, tar = cal.thresholds[far], cal.tar.get(far)
        out.append(f"  FAR {far:g}: " + ("not measurable (too few impostor pairs)" if t is None
                                         else f"threshold {t:.4f}, TAR {tar:.4f}"))
    return out + evidence_ceiling_lines(cal)


def max_gallery(cal: Calibration, frame_correlation: float, max_false_rate: float) -> float:
    """The largest gallery (creators with references) in which this calibration can still auto-tag a video.

    The auto-tag rule (face_assets.recognition.evidence) needs a fused LLR of ln(N / max_false_rate), and n frames
    of one face count as at most 1/rho independent looks: so N <= max_false_rate x exp(max LLR / rho).
    """
    if cal.n_genuine == 0 or cal.n_impostor == 0:
        return 0.0
    rho = min(max(float(frame_correlation), 1e-6), 1.0)
    return float(max_false_rate) * math.exp(min(cal.max_log_likelihood_ratio / rho, 700.0))


def evidence_ceiling_lines(cal: Calibration) -> list[str]:
    """What the calibration's largest LLR allows the auto-tag rule, at the default rule settings."""
    from face_assets.recognition.config import RecognitionConfig

    rule = RecognitionConfig()
    if cal.n_genuine == 0 or cal.n_impostor == 0:
        return ["evidence: none (a distribution is empty): the auto-tag rule cannot tag with this calibration"]
    n = max_gallery(cal, rule.evidence_frame_correlation, rule.auto_tag_max_false_rate)
    return [f"evidence: one face at most LLR {cal.max_log_likelihood_ratio:.1f}, a video at most "
            f"{cal.max_log_likelihood_ratio / rule.evidence_frame_correlation:.1f} (evidence_frame_correlation "
            f"{rule.evidence_frame_correlation:g}): auto-tags possible with up to {n:.3g} creators at "
            f"auto_tag_max_false_rate {rule.auto_tag_max_false_rate:g} (the fewer impostor pairs, the lower)"]


def describe_hist(hist: np.ndarray) -> dict[str, Any]:
    """n, mean and percentiles of a binned distribution (bin centres), plus the counts themselves."""
    n = int(hist.sum())
    if n == 0:
        return {"n": 0}
    cdf = np.cumsum(hist) / n
    pct = {k: round(float(BIN_CENTRES[np.searchsorted(cdf, q)]), 3)
           for k, q in (("p0.1", 0.001), ("p1", 0.01), ("median", 0.5), ("p99", 0.99), ("p99.9", 0.999))}
    nz = np.nonzero(hist)[0]
    return {"n": n, "mean": round(float((hist * BIN_CENTRES).sum() / n), 4), **pct,
            "min_bin": round(float(BIN_EDGES[nz[0]]), 3), "max_bin": round(float(BIN_EDGES[nz[-1] + 1]), 3),
            "hist": _sparse(hist)}


def calibrate_pairs(
    engine,
    pairs_file: Path,
    images: Path,
    *,
    all_photos: bool = True,
    cache: Optional[Path] = None,
    progress=None,
) -> PairReport:
    """Run `engine` over a pair set: accuracy by its folds, and the distributions over every pair of photos.

    Accuracy follows the pair file's protocol: k-fold with the threshold chosen on the other folds, or, with one
    fold, 10-fold cross-validation over its pairs. A pair with a photo without a face scores -1 (a "different"
    decision: errors on same-person pairs count against the model, as they would in the library).

    The distributions and thresholds use every pair of embedded photos (genuine: two photos of one name;
    impostor: of two names), all photos under `images` when `all_photos`, else only those the pairs name: a pair
    file holds ~10^3 impostor pairs, too few to measure a FAR of 1e-4; every pair of its photos gives ~10^7.
    """
    import time

    from face_assets.recognition.config import model_key

    started = time.monotonic()
    pair_set = parse_pairs(pairs_file)
    images = Path(images)
    wanted = set(pair_set.photos())
    photos = sorted(wanted | set(list_photos(images))) if all_photos else sorted(wanted)
    missing = [photo_path(images, n, i) for n, i in wanted if not photo_path(images, n, i).exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} photo(s) named by {pairs_file} are missing, e.g. {missing[0]}")
    paths = [photo_path(images, n, i) for n, i in photos]
    emb, has_face, embed_stats = embed_photos(engine, paths, cache=cache, progress=progress)
    index = {p: k for k, p in enumerate(photos)}

    # the pair file's protocol
    a = np.array([index[(p.name1, p.i)] for p in pair_set.pairs])
    b = np.array([index[(p.name2, p.j)] for p in pair_set.pairs])
    same = np.array([p.same for p in pair_set.pairs])
    scores = np.where(has_face[a] & has_face[b], np.einsum("ij,ij->i", emb[a], emb[b]), -1.0)
    if pair_set.folds > 1:
        folds, protocol = np.array([p.fold for p in pair_set.pairs]), f"{pair_set.folds}-fold, the file's folds"
    else:
        folds, protocol = cv_folds(same, 10), "10-fold cross-validation (the file has one fold)"
    accuracy, per_fold = kfold_accuracy(scores, same, folds)

    # every pair of embedded photos
    keep = np.nonzero(has_face)[0]
    labels = np.array([photos[k][0] for k in keep])
    genuine, imp_hist, n_imp, top = _all_pair_scores(emb[keep], labels, max(FARS))
    thresholds, tars = _thresholds_from_top(top, n_imp, genuine, FARS)
    no_face = [str(paths[k].relative_to(images)) for k in np.nonzero(~has_face)[0]]
    details = {
        "pairs_file": str(Path(pairs_file).resolve()), "images": str(images.resolve()),
        "folds": pair_set.folds, "pairs": len(pair_set.pairs), "accuracy_protocol": protocol,
        "photos": len(photos), "photos_in_pairs": len(wanted), "no_face": len(no_face),
        "people": int(np.unique(labels).size), "distribution_pairs": "every pair of embedded photos",
        "embedding": embed_stats, "engine": {k: v for k, v in engine.model_info().items()
                                              if k in ("detector", "recognizer", "det_size", "providers")},
        "seconds": round(time.monotonic() - started, 1),
    }
    cal = Calibration(
        model=model_key(engine.model_name), source=f"pairs:{Path(pairs_file).name}", created_at=now_iso(),
        genuine_hist=histogram(genuine), impostor_hist=imp_hist, thresholds=thresholds, tar=tars,
        accuracy=round(accuracy, 5), details=details,
    )
    pair_scores = {"genuine": describe(scores[same]), "impostor": describe(scores[~same]),
                   "pairs_without_face": int((scores == -1.0).sum())}
    return PairReport(cal, accuracy, per_fold, no_face, pair_scores)


# --- calibrating on the library's own decisions ----------------------------------------------------------

# Below these, a library calibration is reported but not applied: ~100 genuine pairs give a TAR within about
# +-5 points, and a threshold at FAR 1e-3 needs at least 1,000 impostor pairs to exist at all.
MIN_LIBRARY_GENUINE = 100
MIN_LIBRARY_IMPOSTOR = 1_000


class _Tally:
    """Scores of one class from several sources: a histogram, the top scores (impostors: for thresholds) or all
    scores (genuine: for TARs), and a count per source."""

    def __init__(self, keep_all: bool):
        self.hist = np.zeros(BIN_CENTRES.size, np.int64)
        self.keep_all = keep_all
        self.scores: list[np.ndarray] = []
        self.by_source: dict[str, int] = {}

    def add(self, source: str, scores: np.ndarray) -> None:
        scores = np.asarray(scores, dtype=np.float32).ravel()
        self.hist += histogram(scores)
        self.by_source[source] = self.by_source.get(source, 0) + int(scores.size)
        if self.keep_all:
            self.scores.append(scores)
        elif scores.size:  # impostors: only the top max(FARS) share can set a threshold; kept generously
            self.scores.append(np.sort(scores)[-max(1, int(math.ceil(max(FARS) * scores.size)) + 1):])

    @property
    def n(self) -> int:
        return int(self.hist.sum())

    def values(self) -> np.ndarray:
        return np.concatenate(self.scores) if self.scores else np.zeros(0, np.float32)


def _matrix(rows: list, column: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, 512), np.float32)
    vec = lambda v: v.to_numpy() if hasattr(v, "to_numpy") else v  # noqa: E731 (pgvector's binary Vector)
    return np.stack([np.asarray(vec(r[column]), dtype=np.float32) for r in rows])


def calibrate_library(conn, model: str, *, chunk: int = 2048) -> Calibration:
    """Genuine and impostor similarities from what people decided in the library (`details` says how much of each):

    genuine: a confirmed face against its creator's picture references; two confirmed faces of one creator in
    different videos (faces of one video are near-copies of each other); the best face of a video a person or
    the legacy app tagged with a creator, against that creator's references (the tag does not say which face:
    the best is taken);
    impostor: a rejected face against the references of the creator it was rejected for; a confirmed face
    against the references of every other creator; two confirmed faces of different creators.
    Video faces are scored as the pipeline sees them (frames, not photos): this is the calibration of the domain
    the thresholds are used in. Rejected faces are the hard cases (they were proposed), so they weigh on the
    impostor tail as they should.
    """
    from face_assets.recognition.config import model_key
    from face_assets.db.sql_files import read_sql

    with conn.cursor(binary=True) as cur:
        confirmed = cur.execute(read_sql("recognition/calibration_confirmed.sql")).fetchall()
        rejected = cur.execute(read_sql("recognition/calibration_rejected.sql")).fetchall()
        references = cur.execute(read_sql("recognition/calibration_references.sql")).fetchall()
        tagged = cur.execute(read_sql("recognition/calibration_tagged_faces.sql")).fetchall()
    genuine, impostor = _Tally(keep_all=True), _Tally(keep_all=False)

    faces = _matrix(confirmed, 3)
    face_video = np.array([r[1] for r in confirmed], dtype=np.int64)
    face_creator = np.array([r[2] for r in confirmed], dtype=np.int64)
    refs = _matrix(references, 1)
    ref_creator = np.array([r[0] for r in references], dtype=np.int64)

    for a in range(0, len(confirmed), chunk):  # confirmed faces against picture references
        if not refs.size:
            break
        sims = faces[a:a + chunk] @ refs.T
        own = face_creator[a:a + chunk, None] == ref_creator[None, :]
        genuine.add("confirmed face vs its creator's pictures", sims[own])
        impostor.add("confirmed face vs other creators' pictures", sims[~own])
    for a in range(0, len(confirmed), chunk):  # confirmed faces against each other, across videos
        sims = faces[a:a + chunk] @ faces.T
        rows = np.arange(a, min(a + chunk, len(confirmed)))[:, None]
        upper = (np.arange(len(confirmed))[None, :] > rows) & (face_video[a:a + chunk, None] != face_video[None, :])
        same = face_creator[a:a + chunk, None] == face_creator[None, :]
        genuine.add("confirmed faces of one creator, two videos", sims[upper & same])
        impostor.add("confirmed faces of two creators", sims[upper & ~same])
    if rejected and refs.size:
        rej = _matrix(rejected, 3)
        rej_creator = np.array([r[2] for r in rejected], dtype=np.int64)
        sims = rej @ refs.T
        impostor.add("rejected face vs that creator's pictures", sims[rej_creator[:, None] == ref_creator[None, :]])
    best: dict[tuple[int, int], float] = {}
    if tagged and refs.size:
        tag_emb = _matrix(tagged, 2)
        for k, (video_id, creator_id, _) in enumerate(tagged):
            mine = ref_creator == creator_id
            s = float((refs[mine] @ tag_emb[k]).max())
            best[(video_id, creator_id)] = max(best.get((video_id, creator_id), -1.0), s)
        genuine.add("best face of a tagged video vs its creator's pictures", np.array(list(best.values())))

    g = genuine.values()
    top = np.sort(impostor.values())[::-1]
    thresholds, tars = _thresholds_from_top(top, impostor.n, g, FARS)
    details = {
        "confirmed_faces": len(confirmed),
        "creators_confirmed": int(np.unique(face_creator).size),
        "videos_with_confirmed_faces": int(np.unique(face_video).size),
        "rejections": len(rejected),
        "reference_pictures": len(references),
        "tagged_videos_used": len(best),
        "genuine_by_source": genuine.by_source,
        "impostor_by_source": impostor.by_source,
        "enough_to_apply": genuine.n >= MIN_LIBRARY_GENUINE and impostor.n >= MIN_LIBRARY_IMPOSTOR,
        "minimum_to_apply": {"genuine": MIN_LIBRARY_GENUINE, "impostor": MIN_LIBRARY_IMPOSTOR},
    }
    return Calibration(model=model_key(model), source="library", created_at=now_iso(),
                       genuine_hist=genuine.hist, impostor_hist=impostor.hist,
                       thresholds=thresholds, tar=tars, details=details)


def library_lines(cal: Calibration) -> list[str]:
    d = cal.details
    out = [f"model {cal.model}, {cal.created_at}, from the library's decisions",
           f"data: {d['confirmed_faces']} confirmed faces of {d['creators_confirmed']} creators in "
           f"{d['videos_with_confirmed_faces']} videos, {d['rejections']} rejections, {d['reference_pictures']} "
           f"reference pictures, {d['tagged_videos_used']} tagged videos",
           f"genuine pairs: {cal.n_genuine}"]
    out += [f"  {source}: {n}" for source, n in d["genuine_by_source"].items()]
    out.append(f"impostor pairs: {cal.n_impostor}")
    out += [f"  {source}: {n}" for source, n in d["impostor_by_source"].items()]
    for kind, hist in (("genuine", cal.genuine_hist), ("impostor", cal.impostor_hist)):
        s = describe_hist(hist)
        if s["n"]:
            out.append(f"{kind}: mean {s['mean']:.3f}, p1 {s['p1']:.3f}, median {s['median']:.3f}, p99 {s['p99']:.3f}")
    out += _threshold_lines(cal)
    if not d["enough_to_apply"]:
        out.append(f"not enough decisions to apply (need {MIN_LIBRARY_GENUINE} genuine and {MIN_LIBRARY_IMPOSTOR} "
                   "impostor pairs): review more faces first")
    return out


# --- `face-assets calibrate` -----------------------------------------------------------------------------


def add_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pairs", type=Path, help="a pair file in LFW's format (folds<TAB>n, then pair lines)")
    source.add_argument("--from-library", action="store_true",
                        help="learn from the library's decisions (confirmed and rejected faces, tags)")
    parser.add_argument("--images", type=Path, help="with --pairs: the photos, <images>/<name>/<name>_<NNNN>.jpg")
    parser.add_argument("--report", type=Path, help="write the measurements to this JSON file")
    parser.add_argument("--apply", action="store_true",
                        help="store the calibration for the configured model in face_recognition_config")
    parser.add_argument("--pairs-only", action="store_true",
                        help="with --pairs: distributions from the photos the pairs name only (default: every "
                             "photo under --images, many more impostor pairs)")


def run(args) -> int:
    """`face-assets calibrate ...`: measure, print, optionally write a report and store the calibration."""
    import os

    from face_assets import settings

    if args.pairs is not None:
        if args.images is None:
            print("error: --pairs needs --images (the folder of <name>/<name>_<NNNN>.jpg photos)")
            return 2
        from face_assets.engine.face_engine import FaceEngine

        engine = FaceEngine()
        print(f"embedding the photos with {engine.model_name} (cached under {settings.home() / 'calibration_cache'})",
              flush=True)

        def progress(done: int, total: int) -> None:
            if done == total or done % 1024 < 32:
                print(f"  {done}/{total} photos embedded", flush=True)

        try:
            report = calibrate_pairs(engine, args.pairs, args.images, all_photos=not args.pairs_only,
                                     progress=progress)
        except (FileNotFoundError, ValueError) as exc:  # a missing photo or pair file, a malformed line
            print(f"error: {exc}")
            return 2
        cal, lines, payload = report.calibration, report.lines(), report.to_dict()
    else:
        cal = None
    if args.apply or args.from_library:
        from face_assets.db import instance as instance_env
        from face_assets.defs.resources import PostgresResource

        instance_env.prepare()
        import psycopg

        try:
            with PostgresResource(url=os.environ.get("DATABASE_URL") or None).connect() as conn:
                if cal is None:
                    cal = calibrate_library(conn, settings.model_name())
                    lines, payload = library_lines(cal), {"model": cal.model, "date": cal.created_at,
                                                          "source": cal.source, **cal.to_dict()}
                    if args.apply and not cal.details["enough_to_apply"]:
                        _emit(lines, payload, args.report)
                        print("not applied")
                        return 3
                if args.apply:
                    applied = apply_calibration(conn, cal)
        except psycopg.errors.UndefinedTable as exc:
            print(f"error: {exc.diag.message_primary}: the face tables are not there yet (run `face-assets run` first)")
            return 2
    _emit(lines, payload, args.report)
    if args.apply:
        print(f"applied: face_recognition_config {config_key(cal.model)!r} ({cal.source}, {cal.created_at})"
              + "".join(f", {cal.model}.{k} = {v:g}" for k, v in applied.items()))
    else:
        print("suggested settings: " + (", ".join(f"{k} {v:g}" for k, v in suggested_settings(cal).items())
                                        or "none (too few impostor pairs)"))
    return 0


def _emit(lines: list[str], payload: dict, report: Optional[Path]) -> None:
    for line in lines:
        print(line)
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(json.dumps(payload, indent=1, default=str) + "\n")
        print(f"report: {report}")
