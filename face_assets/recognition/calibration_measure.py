"""Measuring a calibration: on a pair set in LFW's format (`parse_pairs`, the photos, `embed_photos` through
FaceEngine with a cache, k-fold accuracy, `calibrate_pairs`) or on the library's own review decisions
(`calibrate_library`), and the report lines `face-assets calibrate` prints. The result is a
face_assets.recognition.calibration.Calibration; storing it is face_assets.recognition.calibration_store."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from face_assets import settings
from face_assets.db.sql_files import read_sql
from face_assets.recognition.calibration import (
    BIN_CENTRES,
    BIN_EDGES,
    FARS,
    Calibration,
    _sparse,
    histogram,
    max_gallery,
    now_iso,
)
from face_assets.recognition.config import RecognitionConfig, model_key

# --- accuracy by a pair set's protocol --------------------------------------------------------------


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
    per_fold: int | None  # pairs per class per fold, as the header says (None: not given)
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
        raise ValueError(
            f"{path}: header says {folds} fold(s) of 2 x {per_fold} pairs = {folds * 2 * per_fold} "
            f"lines, found {len(body)}"
        )
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
            raise ValueError(
                f"{path}: line {k + 2}: expected `name i j` or `name1 i name2 j`, got {' '.join(parts)!r}"
            ) from None
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
            number = f.stem[len(prefix) :]
            if number.isdigit():
                out.append((folder.name, int(number)))
    return sorted(out)


# --- embedding photos through FaceEngine, cached --------------------------------------------------------


def engine_fingerprint(engine) -> str:
    """What makes embeddings of one photo differ: pack files, detector settings, providers (GPU runs may differ
    in the last digits). Part of the cache folder's name."""
    info = engine.model_info()
    model_dir = Path(info["model_dir"])
    files = [(f.name, f.stat().st_size, int(f.stat().st_mtime)) for f in sorted(model_dir.glob("*.onnx"))]
    second_pass = getattr(engine, "second_pass_attempts", None)  # photos without a face are tried again (FaceEngine)
    key = json.dumps(
        [files, info["det_size"], info["det_threshold"], info["detector"], info["recognizer"], info["providers"][0]]
        + ([second_pass] if second_pass else [])
    )
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def cache_dir(engine) -> Path:
    return settings.home() / "calibration_cache" / f"{model_key(engine.model_name)}-{engine_fingerprint(engine)}"


# Part of each cached photo's key: another rule for which face a photo is labelled with embeds the photos again.
LABELLED_FACE_RULE = "box-holds-centre"


def _central_face(faces, shape) -> np.ndarray | None:
    """The embedding of the face a photo of a pair set is labelled with, None when no face found is that one.

    LFW-style sets crop each photo around the named person's face: the face it is labelled with is the one whose
    box holds the image centre (of several, the one whose box centre is nearest it). A face off the centre is
    someone beside the named person (lfw_dev's Don_Nickles_0002: the detector missed his face, cut by the photo's
    edge, and found only Charles Grassley's at the left border; taking the nearest face made a "Don Nickles" photo
    of Grassley, a genuine pair of two people and an impostor pair of one)."""
    cy, cx = shape[0] / 2, shape[1] / 2

    def holds_centre(face) -> bool:
        x1, y1, x2, y2 = face.bbox
        return x1 <= cx <= x2 and y1 <= cy <= y2

    def distance(face) -> float:
        x1, y1, x2, y2 = face.bbox
        return ((x1 + x2) / 2 - cx) ** 2 + ((y1 + y2) / 2 - cy) ** 2

    labelled = [face for face in faces if holds_centre(face)]
    if not labelled:
        return None
    return np.asarray(min(labelled, key=distance).embedding, dtype=np.float32)


def embed_photos(
    engine,
    paths: Sequence[Path],
    *,
    cache: Path | None = None,
    batch: int = 32,
    progress=None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(embeddings (n, d) float32, has_face (n,) bool, stats) of the face each photo is labelled with (the one
    whose box holds the centre, `_central_face`).

    Each photo's result is cached as `<cache>/<sha1 of path, size, mtime, rule>.npy` (an empty array: no face), so a
    rerun, or a run that was stopped half way, only embeds what is new. Photos go to `engine.detect` `batch` at a
    time: its frame_workers spread them over the cores; a photo in which it finds no face gets the engine's second
    pass (`FaceEngine.detect_pictures`: a border, other detector input sizes, the mirror image) before it counts as no
    face, and so does a photo whose faces are all off its centre (stats: `second_pass` photos tried again,
    `second_pass_found` of them with a face). An unreadable photo counts as no face.
    """
    import cv2  # here, not at the top: every `face-assets` command imports this module, few read photos

    cache = Path(cache) if cache is not None else cache_dir(engine)
    cache.mkdir(parents=True, exist_ok=True)
    results: list[np.ndarray | None] = [None] * len(paths)
    keys = []
    todo = []
    for k, p in enumerate(paths):
        st = Path(p).stat()
        key = f"{Path(p).resolve()}|{st.st_size}|{int(st.st_mtime)}|{LABELLED_FACE_RULE}"
        key = hashlib.sha1(key.encode()).hexdigest()
        keys.append(key)
        f = cache / f"{key}.npy"
        if f.exists():
            results[k] = np.load(f)
        else:
            todo.append(k)
    detect = getattr(engine, "detect_pictures", None) or engine.detect
    passes_before = getattr(engine, "second_passes", 0)
    second_found = 0
    start = time.monotonic()
    for b in range(0, len(todo), batch):
        chunk = todo[b : b + batch]
        images = [cv2.imread(str(paths[k])) for k in chunk]
        readable = [k for k, im in zip(chunk, images) if im is not None]
        found = detect([im for im in images if im is not None])
        by_index = dict(zip(readable, zip(found, [im.shape for im in images if im is not None])))
        for k, image in zip(chunk, images):
            faces = by_index[k][0] if k in by_index else []
            emb = _central_face(faces, image.shape) if k in by_index else None
            if emb is None and faces and not getattr(faces[0], "second_pass", False) and hasattr(engine, "second_pass"):
                # faces, but none where the label says: the second pass looks for the missed one
                faces = engine.second_pass(image)
                emb = _central_face(faces, image.shape)
            results[k] = emb if emb is not None else np.zeros(0, np.float32)
            second_found += emb is not None and bool(getattr(faces[0], "second_pass", False))
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
    stats = {
        "photos": len(paths),
        "embedded_now": len(todo),
        "from_cache": len(paths) - len(todo),
        "seconds": round(seconds, 1),
        "photos_per_second": round(len(todo) / seconds, 2) if todo and seconds > 0 else None,
        "second_pass": getattr(engine, "second_passes", 0) - passes_before,
        "second_pass_found": second_found,
    }
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
        sims = emb[a : a + chunk] @ emb.T  # (c, n)
        rows = np.arange(a, min(a + chunk, n))[:, None]
        upper = np.arange(n)[None, :] > rows
        same = labels[a : a + chunk][:, None] == labels[None, :]
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
    return {
        "n": int(s.size),
        "mean": round(float(s.mean()), 4),
        "sd": round(float(s.std()), 4),
        "min": round(float(s.min()), 4),
        **{k: round(float(v), 4) for k, v in zip(keys, q)},
        "max": round(float(s.max()), 4),
    }


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
            "thresholds": [
                {"far": far, "threshold": cal.thresholds.get(far), "tar": cal.tar.get(far)}
                for far in sorted(cal.thresholds, reverse=True)
            ],
            "details": cal.details,
            "calibration": cal.to_dict(),
        }

    def lines(self) -> list[str]:
        cal, d = self.calibration, self.calibration.details
        out = [
            f"model {cal.model}, {cal.created_at}, {cal.source}",
            f"photos: {d.get('photos')} ({d.get('no_face')} without a face), embedding: {d.get('embedding')}",
            f"accuracy: {self.accuracy:.4f} ({d.get('accuracy_protocol')}, {len(self.accuracy_folds)} folds, "
            f"{self.pair_scores['genuine'].get('n', 0) + self.pair_scores['impostor'].get('n', 0)} pairs)",
        ]
        for kind in ("genuine", "impostor"):
            s = self.pair_scores[kind]
            if s.get("n"):
                out.append(
                    f"  pair file {kind}: n={s['n']} mean {s['mean']:.3f} p1 {s['p1']:.3f} median "
                    f"{s['median']:.3f} p99 {s['p99']:.3f}"
                )
        out.append(f"distributions (every pair of photos): genuine n={cal.n_genuine}, impostor n={cal.n_impostor}")
        out += _threshold_lines(cal)
        return out


def _threshold_lines(cal: Calibration) -> list[str]:
    out = []
    for far in sorted(cal.thresholds, reverse=True):
        t, tar = cal.thresholds[far], cal.tar.get(far)
        out.append(
            f"  FAR {far:g}: "
            + ("not measurable (too few impostor pairs)" if t is None else f"threshold {t:.4f}, TAR {tar:.4f}")
        )
    return out + evidence_ceiling_lines(cal)


def evidence_ceiling_lines(cal: Calibration) -> list[str]:
    """What the calibration's largest LLR allows the auto-tag rule, at the default rule settings."""
    rule = RecognitionConfig()
    if cal.n_genuine == 0 or cal.n_impostor == 0:
        return ["evidence: none (a distribution is empty): the auto-tag rule cannot tag with this calibration"]
    n = max_gallery(cal, rule.evidence_frame_correlation, rule.auto_tag_max_false_rate)
    return [
        f"evidence: one face at most LLR {cal.max_log_likelihood_ratio:.1f}, a video at most "
        f"{cal.max_log_likelihood_ratio / rule.evidence_frame_correlation:.1f} (evidence_frame_correlation "
        f"{rule.evidence_frame_correlation:g}): auto-tags possible with up to {n:.3g} creators at "
        f"auto_tag_max_false_rate {rule.auto_tag_max_false_rate:g} (the fewer impostor pairs, the lower)"
    ]


def describe_hist(hist: np.ndarray) -> dict[str, Any]:
    """n, mean and percentiles of a binned distribution (bin centres), plus the counts themselves."""
    n = int(hist.sum())
    if n == 0:
        return {"n": 0}
    cdf = np.cumsum(hist) / n
    pct = {
        k: round(float(BIN_CENTRES[np.searchsorted(cdf, q)]), 3)
        for k, q in (("p0.1", 0.001), ("p1", 0.01), ("median", 0.5), ("p99", 0.99), ("p99.9", 0.999))
    }
    nz = np.nonzero(hist)[0]
    return {
        "n": n,
        "mean": round(float((hist * BIN_CENTRES).sum() / n), 4),
        **pct,
        "min_bin": round(float(BIN_EDGES[nz[0]]), 3),
        "max_bin": round(float(BIN_EDGES[nz[-1] + 1]), 3),
        "hist": _sparse(hist),
    }


def calibrate_pairs(
    engine,
    pairs_file: Path,
    images: Path,
    *,
    all_photos: bool = True,
    cache: Path | None = None,
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
        "pairs_file": str(Path(pairs_file).resolve()),
        "images": str(images.resolve()),
        "folds": pair_set.folds,
        "pairs": len(pair_set.pairs),
        "accuracy_protocol": protocol,
        "photos": len(photos),
        "photos_in_pairs": len(wanted),
        "no_face": len(no_face),
        "people": int(np.unique(labels).size),
        "distribution_pairs": "every pair of embedded photos",
        "embedding": embed_stats,
        "engine": {
            k: v for k, v in engine.model_info().items() if k in ("detector", "recognizer", "det_size", "providers")
        },
        "seconds": round(time.monotonic() - started, 1),
    }
    cal = Calibration(
        model=model_key(engine.model_name),
        source=f"pairs:{Path(pairs_file).name}",
        created_at=now_iso(),
        genuine_hist=histogram(genuine),
        impostor_hist=imp_hist,
        thresholds=thresholds,
        tar=tars,
        accuracy=round(accuracy, 5),
        details=details,
    )
    pair_scores = {
        "genuine": describe(scores[same]),
        "impostor": describe(scores[~same]),
        "pairs_without_face": int((scores == -1.0).sum()),
    }
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
            self.scores.append(np.sort(scores)[-max(1, int(math.ceil(max(FARS) * scores.size)) + 1) :])

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
        sims = faces[a : a + chunk] @ refs.T
        own = face_creator[a : a + chunk, None] == ref_creator[None, :]
        genuine.add("confirmed face vs its creator's pictures", sims[own])
        impostor.add("confirmed face vs other creators' pictures", sims[~own])
    for a in range(0, len(confirmed), chunk):  # confirmed faces against each other, across videos
        sims = faces[a : a + chunk] @ faces.T
        rows = np.arange(a, min(a + chunk, len(confirmed)))[:, None]
        upper = (np.arange(len(confirmed))[None, :] > rows) & (face_video[a : a + chunk, None] != face_video[None, :])
        same = face_creator[a : a + chunk, None] == face_creator[None, :]
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
    return Calibration(
        model=model_key(model),
        source="library",
        created_at=now_iso(),
        genuine_hist=genuine.hist,
        impostor_hist=impostor.hist,
        thresholds=thresholds,
        tar=tars,
        details=details,
    )


def library_lines(cal: Calibration) -> list[str]:
    d = cal.details
    out = [
        f"model {cal.model}, {cal.created_at}, from the library's decisions",
        f"data: {d['confirmed_faces']} confirmed faces of {d['creators_confirmed']} creators in "
        f"{d['videos_with_confirmed_faces']} videos, {d['rejections']} rejections, {d['reference_pictures']} "
        f"reference pictures, {d['tagged_videos_used']} tagged videos",
        f"genuine pairs: {cal.n_genuine}",
    ]
    out += [f"  {source}: {n}" for source, n in d["genuine_by_source"].items()]
    out.append(f"impostor pairs: {cal.n_impostor}")
    out += [f"  {source}: {n}" for source, n in d["impostor_by_source"].items()]
    for kind, hist in (("genuine", cal.genuine_hist), ("impostor", cal.impostor_hist)):
        s = describe_hist(hist)
        if s["n"]:
            out.append(f"{kind}: mean {s['mean']:.3f}, p1 {s['p1']:.3f}, median {s['median']:.3f}, p99 {s['p99']:.3f}")
    out += _threshold_lines(cal)
    if not d["enough_to_apply"]:
        out.append(
            f"not enough decisions to apply (need {MIN_LIBRARY_GENUINE} genuine and {MIN_LIBRARY_IMPOSTOR} "
            "impostor pairs): review more faces first"
        )
    return out
