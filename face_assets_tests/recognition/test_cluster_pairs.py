"""Clusters seen in two videos at library scale (face_assets.recognition.clustering `pair_similarity`, `judge_pairs`)
and the impostor tail they stand on (Calibration.tail_threshold): the plain arithmetic, then through PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from face_assets.recognition.calibration import TAIL_FAR, Calibration
from face_assets.recognition.calibration_store import shipped_calibration
from face_assets.recognition.clustering import ClusteringConfig, judge_pairs, pair_similarity
from face_assets.recognition.evidence import DefaultsLikelihood
from face_assets_tests.recognition.test_clustering import CONFIG, DIM, clusters_of, connect, run, unit_rows

# --- the impostor tail ---------------------------------------------------------------------------------------------


def test_the_tail_is_read_where_measured_and_fitted_beyond_erring_high():
    rng = np.random.default_rng(3)
    sd = 0.1
    impostor = rng.normal(0.0, sd, 4_000_000)  # different people's similarities, near-normal
    calibration = Calibration.from_scores("m", "test", rng.normal(0.6, 0.1, 1000), impostor)
    assert calibration.tail_threshold(1e-3) == calibration.threshold(1e-3)  # measured
    for far, slack in ((1e-6, 0.05), (1e-8, 0.1), (1e-10, 0.2)):
        fitted, true = calibration.tail_threshold(far), sd * norm.isf(far)
        # An exponential excess is heavier than a normal tail: the fit asks more of a pair (more, the farther it
        # reaches), never less.
        assert true - 0.005 <= fitted <= true + slack, (far, fitted, true)
    assert calibration.tail_threshold(1e-10) > calibration.tail_threshold(1e-8) > calibration.tail_threshold(1e-6)
    # Too few impostor pairs to fit a tail: no answer rather than a guess.
    small = Calibration.from_scores("m", "test", [0.6], rng.normal(0.0, sd, 50_000))
    assert small.tail_threshold(TAIL_FAR / 10) is None


def test_the_shipped_tail_agrees_with_the_pairs_where_they_measure_it():
    calibration = shipped_calibration("buffalo_sc")
    # At FAR 1e-5 (~116 of lfw_dev's 11.6 M impostor pairs) the fit and the count meet.
    assert calibration.tail_threshold(1e-5) == pytest.approx(calibration.threshold(1e-5), abs=0.01)


def test_the_defaults_tail_is_their_normal_one():
    defaults = DefaultsLikelihood(match_threshold=0.3, genuine_mean=0.6, genuine_sd=0.1)
    assert defaults.tail_threshold(1e-3) == pytest.approx(0.3, abs=1e-3)  # match_threshold sits at FAR 1e-3
    assert defaults.tail_threshold(1e-9) > defaults.tail_threshold(1e-6) > 0.3


# --- the rule on plain ids -------------------------------------------------------------------------------------------


def test_what_two_sightings_need_grows_with_the_library():
    calibration = shipped_calibration("buffalo_sc")
    needs = [pair_similarity(n, CONFIG, calibration) for n in (100, 300, 2_000, 20_000, 200_000)]
    assert needs == sorted(needs)
    assert needs[0] < CONFIG.similarity  # a small library: the neighbour threshold already says enough
    assert 0.45 < needs[2] < 0.55  # lfw_dev at library scale: two brothers at 0.47 wait, most people do not
    looser = ClusteringConfig(**{**CONFIG.__dict__, "max_false_pairs": 5.0})
    assert pair_similarity(2_000, looser, calibration) < needs[2]
    assert pair_similarity(1, CONFIG, calibration) is None
    assert pair_similarity(2_000, CONFIG, object()) is None  # a model without a known tail: no rule


def test_judge_pairs_dissolves_weak_two_video_clusters_only():
    clusters = [[1, 2], [3, 4], [5, 6, 7], [8, 9], [10, 11, 12]]
    video_of = {1: 1, 2: 2, 3: 1, 4: 3, 5: 1, 6: 2, 7: 3, 8: 2, 9: 4, 10: 5, 11: 5, 12: 6}
    a = np.array([1, 3, 5, 6, 8, 10, 11, 10])
    b = np.array([2, 4, 6, 7, 9, 11, 12, 12])
    s = np.array([0.45, 0.60, 0.42, 0.41, 0.44, 0.90, 0.43, 0.47])
    kept, waiting = judge_pairs(clusters, (a, b, s), video_of, linked={8}, threshold=0.5)
    # [1, 2]: two videos at 0.45; [3, 4]: 0.60 is enough; [5, 6, 7]: three videos; [8, 9]: a person linked them;
    # [10, 11, 12]: two videos, its strongest edge across them 0.47 (10-11 at 0.90 is within one video).
    assert waiting == [[1, 2], [10, 11, 12]]
    assert kept == [[3, 4], [5, 6, 7], [8, 9]]
    assert judge_pairs(clusters, (a, b, s), video_of, linked=set(), threshold=None) == (clusters, [])


# --- through PostgreSQL ----------------------------------------------------------------------------------------------


def _insert(conn, vectors: np.ndarray, videos: list[int]) -> list[int]:
    ids = []
    for k, (vector, video) in enumerate(zip(vectors, videos)):
        ids.append(
            conn.execute(
                "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
                " bbox_width, bbox_height, quality_score, match_status, crop_path)"
                " VALUES (%s, %s, %s, %s, 0, 0, 100, 100, 0.8, 'unmatched', %s) RETURNING id",
                (video, float(k), k, vector, f"/crops/{video}/{k}.jpg"),
            ).fetchone()[0]
        )
    return ids


def _alike(rng: np.random.Generator, n: int, similarity: float) -> np.ndarray:
    """`n` unit vectors whose every pair is at exactly this cosine similarity (a shared direction and orthogonal
    own ones: sqrt(s) z + sqrt(1 - s) e_i)."""
    basis, _ = np.linalg.qr(rng.standard_normal((DIM, n + 1)))
    shared, own = basis[:, 0], basis[:, 1:].T
    return (np.sqrt(similarity) * shared + np.sqrt(1 - similarity) * own).astype(np.float32)


def test_in_a_large_library_two_sightings_need_more_than_a_small_one(db, video_ids):
    rng = np.random.default_rng(11)
    with connect(db) as conn:
        # 1,000 faces of different people (random directions: similarity ~N(0, 0.044), none near 0.40) ...
        _insert(conn, unit_rows(rng.standard_normal((1000, DIM))), [video_ids[k % 4] for k in range(1000)])
        # ... a stranger seen in two videos at 0.43, another at 0.65, a third in three videos at 0.43.
        weak = _insert(conn, _alike(rng, 2, 0.43), video_ids[:2])
        strong = _insert(conn, _alike(rng, 2, 0.65), video_ids[:2])
        thrice = _insert(conn, _alike(rng, 3, 0.43), video_ids[:3])
        conn.commit()

    result = run(db)
    assert result.candidates == 1007
    assert 0.43 < result.pair_similarity < 0.65  # ~500,000 pairs: FAR 1e-7
    assert result.pairs_waiting == 1
    with connect(db) as conn:
        clusters = sorted(sorted(faces) for faces in clusters_of(conn).values())
    assert clusters == sorted([sorted(strong), sorted(thrice)])

    # The same library, allowed 1,000 expected false pairs: the neighbour threshold decides alone again.
    with connect(db) as conn:
        conn.execute("INSERT INTO face_recognition_config (key, value) VALUES ('cluster_max_false_pairs', '1000')")
        conn.commit()
    with connect(db) as conn:
        loose = ClusteringConfig.load(conn)
    assert loose.max_false_pairs == 1000
    result = run(db, loose)
    assert result.pairs_waiting == 0 and result.mode != "unchanged"
    with connect(db) as conn:
        clusters = sorted(sorted(faces) for faces in clusters_of(conn).values())
    assert sorted(weak) in clusters and len(clusters) == 3
