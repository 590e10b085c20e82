"""The fusion rule (face_assets.recognition.evidence): per-face LLRs with the runner-up's margin, correlated frames,
the false-tag target, and the explanation; on synthetic unit vectors of known similarity and real PostgreSQL."""

import math

import numpy as np
import pytest

from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.evidence import (
    DefaultsLikelihood,
    PairEvidence,
    explain,
    face_llr,
    frame_weights,
    fuse,
    likelihood_model,
    target_llr,
)
from face_assets.recognition.matching import match_detections
from face_assets_tests.recognition.test_matching import (
    CONFIG,
    add_embedding,
    add_face,
    at_similarity,
    connect,
    setup_schema,
    tags,
    unit,
)


class Linear:
    """A stand-in calibration: LLR = 20 (s - 0.3), so the arithmetic is readable."""

    def log_likelihood_ratio(self, s):
        return 20.0 * (np.asarray(s, dtype=np.float64) - 0.3)


def test_correlated_frames_count_as_fewer_looks():
    w = frame_weights(4, 0.5)
    assert np.allclose(w, [1, 1 / 3, 1 / 6, 1 / 10])
    assert np.allclose(np.cumsum(frame_weights(50, 0.5))[-1], 50 / 25.5)  # never 2 (= 1/rho) or more
    assert np.allclose(frame_weights(3, 0.0), [1, 1, 1])  # independent frames: plain sum
    assert np.allclose(frame_weights(3, 1.0), [1, 0, 0])  # one look, however many frames
    # Best face per frame; a weaker frame added never lowers the evidence.
    assert fuse([0, 0, 1], [5.0, 9.0, 3.0], 0.5) == pytest.approx(9.0 + 3.0 / 3)
    assert fuse([0, 1, 2], [9.0, 3.0, 0.5], 0.5) > fuse([0, 1], [9.0, 3.0], 0.5)
    # Many equal frames saturate: 10 frames at 4 give 4 x n_eff(10) = 4 x 1.82, not 40.
    assert fuse(list(range(10)), [4.0] * 10, 0.5) == pytest.approx(4.0 * 10 / 5.5)


def test_frames_of_one_track_are_one_look():
    # Nine frames of one track at LLR 5: one look (their mean), where nine frames of no track count n_eff(9) = 1.8.
    assert fuse(range(9), [5.0] * 9, 0.5, tracks=[3] * 9) == pytest.approx(5.0)
    assert fuse(range(9), [5.0] * 9, 0.5) == pytest.approx(5.0 * 9 / 5)
    # A track's look is its frames' mean; two tracks are two looks; a face in no track is a look of its own.
    assert fuse([0, 1, 2, 3], [6.0, 2.0, 5.0, 1.0], 0.5, tracks=[0, 0, 1, None]) == pytest.approx(
        5.0 + 4.0 / 3 + 1.0 / 6
    )
    # The crowd is counted per frame before the mean.
    assert fuse([0, 1], [6.0, 6.0], 0.5, [2, 1], [7, 7]) == pytest.approx(6.0 - math.log(2) / 2)

    # A stranger's track repeating one resemblance in every frame: likelihood ratio a = T^(1/1.8) with probability
    # 1/a, else nothing (expectation 1). Counted per frame, nine copies reach ln T at rate 1/a, far above the 1/T
    # the target stands on; as one look (the mean: exp(mean) <= mean of exp) never.
    rng = np.random.default_rng(3)
    target = 50.0
    a = target ** (1 / 1.8)
    hits = rng.random(20_000) < 1.0 / a
    tracks = [[math.log(a) if hit else -30.0] * 9 for hit in hits]
    per_frame = np.mean([fuse(range(9), t, 0.5) >= math.log(target) - 1e-9 for t in tracks])
    per_track = np.mean([fuse(range(9), t, 0.5, tracks=[0] * 9) >= math.log(target) - 1e-9 for t in tracks])
    assert per_frame > 4.0 / target
    assert per_track <= 1.0 / target


def test_a_crowded_frame_keeps_the_false_tag_bound():
    # One face per frame: unchanged. m faces in a frame: its best face counts ln m less.
    assert fuse([0, 1], [9.0, 3.0], 0.5, [1, 1]) == fuse([0, 1], [9.0, 3.0], 0.5)
    assert fuse([0, 0, 1], [5.0, 9.0, 3.0], 0.5, [2, 2, 1]) == pytest.approx(9.0 - math.log(2) + 3.0 / 3)
    # The penalty can reorder frames: frame 0 (9 among 20 faces) is weaker than frame 1 (7 alone).
    assert fuse([0, 1], [9.0, 7.0], 0.5, [20, 1]) == pytest.approx(7.0 + (9.0 - math.log(20)) / 3)

    # Markov's extreme case: without the creator, each face's likelihood ratio is T with probability 1/T, else 0
    # (expectation 1). One face per frame reaches ln T at rate 1/T; the best of m strangers would reach it at about
    # m/T if the crowd were not counted.
    rng = np.random.default_rng(7)
    target, m = 50.0, 8
    hits = rng.random((20_000, m)) < 1.0 / target
    llrs = np.where(hits, math.log(target), -30.0)
    uncounted = np.mean([fuse([0] * m, row, 0.5) >= math.log(target) for row in llrs])
    counted = np.mean([fuse([0] * m, row, 0.5, [m] * m) >= math.log(target) for row in llrs])
    assert uncounted > 4.0 / target  # the bound broken (about 1 - (1 - 1/T)^m = 0.15 here)
    assert counted <= 1.0 / target


def test_runner_up_margin_and_target():
    model = Linear()
    assert face_llr(model, [0.6], [np.nan])[0] == pytest.approx(6.0)
    close = face_llr(model, [0.6], [0.58])[0]  # another creator almost as near: little evidence left
    assert close == pytest.approx(6.0 - math.log1p(math.exp(5.6)))
    assert close < 0.5
    far = face_llr(model, [0.6], [0.0])[0]  # runner-up a stranger: the margin costs ~nothing
    assert far == pytest.approx(6.0, abs=0.01)
    assert target_llr(10, 0.01) == pytest.approx(math.log(1000))
    assert target_llr(10_000, 0.01) > target_llr(10, 0.01)  # a bigger gallery needs more evidence
    assert target_llr(10, 0.001) > target_llr(10, 0.01)


def test_the_rule_needs_the_target_and_the_anchors():
    def pair(fused, anchored, faces=1):
        p = PairEvidence(1, 1, faces=[object()] * faces, fused=fused, anchored=anchored, target=6.0, n_creators=4)
        return p

    assert pair(6.0, 6.0).passes and pair(6.0, 6.0).strong
    assert not pair(5.9, 5.9).passes
    assert pair(7.0, 0.5).passes and not pair(7.0, 0.5).strong  # learned references helped; not learned from
    assert not pair(20.0, -3.0).passes  # learned references alone: never
    assert not pair(20.0, 20.0, faces=0).passes


def test_defaults_likelihood_is_monotone_bounded_and_follows_the_thresholds():
    model = DefaultsLikelihood.from_config(CONFIG)
    s = np.linspace(-1, 1, 2001)
    llr = model.log_likelihood_ratio(s)
    assert np.all(np.diff(llr) >= -1e-12)
    assert llr.max() == pytest.approx(math.log(1e4)) and llr.min() == pytest.approx(-math.log(1e4))
    assert model.log_likelihood_ratio(0.0) < -5  # different people sit around 0
    assert (
        model.log_likelihood_ratio(CONFIG.auto_tag_threshold) > model.log_likelihood_ratio(CONFIG.match_threshold) > 0
    )


def test_likelihood_model_is_the_stored_calibration_else_the_shipped_one_else_the_defaults(fresh_db):
    from face_assets.recognition.calibration import Calibration
    from face_assets.recognition.calibration_store import shipped_calibration, store_calibration

    setup_schema(fresh_db, creators=2, videos=1)
    rng = np.random.default_rng(1)
    cal = Calibration.from_scores("buffalo_sc", "test", rng.normal(0.6, 0.1, 3000), rng.normal(0.0, 0.08, 30000))
    with connect(fresh_db) as conn:
        config = RecognitionConfig.load(conn, model="buffalo_sc")
        shipped = likelihood_model(conn, config)
        assert shipped is shipped_calibration("buffalo_sc") and shipped.source == "pairs:pairs.txt"
        assert likelihood_model(None, config) is shipped  # no database: the shipped one still applies
        # a model nobody calibrated (nothing stored, nothing shipped): its thresholds as two normals
        assert isinstance(likelihood_model(conn, RecognitionConfig.load(conn, model="buffalo_l")), DefaultsLikelihood)
        store_calibration(conn, cal)
        model = likelihood_model(conn, config)
        assert model.source == "test"  # --apply wins over the shipped calibration
        assert model.log_likelihood_ratio(0.6) > 0 > model.log_likelihood_ratio(0.1)
        conn.execute("UPDATE face_recognition_config SET value = '{' WHERE key = 'buffalo_sc.calibration'")
        assert likelihood_model(conn, config) is shipped  # an unreadable stored one: the shipped one, not none


def test_fused_evidence_tags_and_explains(fresh_db):
    """Weak faces in several frames add up (to a point); a close runner-up blocks; `explain` says why."""
    setup_schema(fresh_db, creators=4, videos=3)
    rng = np.random.default_rng(7)
    c = unit(rng, 4)
    with connect(fresh_db) as conn:
        for i in range(4):
            add_embedding(conn, i + 1, c[i], "profile_picture", f"/pics/{i + 1}.jpg")
        # 4 creators: target ln(400) = 6.0. A face at 0.36: LLR 5.0 alone, short; two frames: 5.0 x 4/3 = 6.7.
        add_face(conn, 1, 0, at_similarity(rng, c[0], 0.36))
        add_face(conn, 2, 0, at_similarity(rng, c[0], 0.36))
        add_face(conn, 2, 1, at_similarity(rng, c[0], 0.36))
        # Video 3: creator 2 at 0.6, but creator 3 almost as near in every frame: no tag.
        for frame in range(3):
            v = 0.6 * c[1] + 0.55 * c[2]
            v += np.sqrt(1 - 0.36 - 0.3025) * at_similarity(rng, c[3], 0.0, c[1], c[2])
            add_face(conn, 3, frame, v)
        conn.commit()
        match_detections(conn, CONFIG, video_ids=[1, 2, 3])
        assert {t[:3] for t in tags(conn)} == {(2, 1, "face_recognition")}
        why = "\n".join(explain(conn, CONFIG, 1, 1))
        assert "short of the target" in why and "ln(4 creators / 0.01)" in why
        assert "TAGGED" in "\n".join(explain(conn, CONFIG, 2))
        blocked = "\n".join(explain(conn, CONFIG, 3))
        assert "runner-up creator 3" in blocked and "TAGGED" not in blocked
        # The same through the CLI: face-assets review why VIDEO [CREATOR]
        import argparse

        from face_assets.cli import review

        parser = argparse.ArgumentParser()
        review.add_arguments(parser)
        assert any("TAGGED" in line for line in review._dispatch(conn, parser.parse_args(["why", "2", "1"])))
        assert review._dispatch(conn, parser.parse_args(["proposals"])) == ["no open cluster proposal"]
