"""Calibration (face_assets.recognition.calibration, calibration_measure, calibration_store; the command in
face_assets.cli.calibrate): pair files, k-fold accuracy, FAR thresholds, the likelihood ratio, `face-assets calibrate
--apply` / `--from-library` on real PostgreSQL, and a small real run over lfw_dev photos through FaceEngine."""

import json
import math
from pathlib import Path

import numpy as np
import psycopg
import pytest

from face_assets.cli.main import main
from face_assets.recognition import calibration as cal_mod
from face_assets.recognition import calibration_measure as measure_mod
from face_assets.recognition import calibration_store as store_mod
from face_assets.recognition.calibration import BIN_EDGES, FARS, Calibration, threshold_at_far
from face_assets.recognition.calibration_measure import (
    _all_pair_scores,
    _thresholds_from_top,
    calibrate_pairs,
    cv_folds,
    kfold_accuracy,
    parse_pairs,
)
from face_assets.recognition.calibration_store import load_calibration, store_calibration
from face_assets_tests.conftest import FIXTURES, require_fixtures

LFW_DEV = FIXTURES / "lfw_dev"
DIM = 512


# --- pair files ---------------------------------------------------------------------------------------


def test_pair_file_with_folds_and_both_line_kinds(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text(
        "2\t2\nAnn\t1\t2\nBob\t1\t3\nAnn\t1\tBob\t2\nCid\t4\tDee\t1\nEve  2 5\nAnn 2 3\nBob 1  Eve 1\nCid 1 Ann 3\n"
    )
    ps = parse_pairs(f)
    assert (ps.folds, ps.per_fold, len(ps.pairs)) == (2, 2, 8)
    assert [p.same for p in ps.pairs] == [True, True, False, False] * 2
    assert [p.fold for p in ps.pairs] == [0] * 4 + [1] * 4
    assert ps.pairs[2] == measure_mod.Pair("Ann", 1, "Bob", 2, 0)
    assert ps.pairs[4] == measure_mod.Pair("Eve", 2, "Eve", 5, 1)
    assert ("Ann", 3) in ps.photos() and len(ps.photos()) == len(set(ps.photos()))
    assert measure_mod.photo_path(Path("/x"), "Ann", 3) == Path("/x/Ann/Ann_0003.jpg")


def test_pair_file_with_one_number_header_is_one_fold(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("2\nA 1 2\nB 1 2\nA 1 B 1\nB 2 A 2\n")
    ps = parse_pairs(f)
    assert ps.folds == 1 and {p.fold for p in ps.pairs} == {0} and len(ps.pairs) == 4


@pytest.mark.parametrize(
    "text, message",
    [
        ("1\t3\nA 1 2\nA 1 B 1\n", "header says"),
        ("1\t1\nA 1 2\nA x B 1\n", "line 3"),
        ("1\t1\nA 1 2 3 4 5\nA 1 B 1\n", "line 2"),
    ],
)
def test_bad_pair_files_say_where(tmp_path, text, message):
    f = tmp_path / "pairs.txt"
    f.write_text(text)
    with pytest.raises(ValueError, match=message):
        parse_pairs(f)


def test_calibrate_says_what_is_wrong_with_its_input(tmp_path, capsys):
    f = tmp_path / "pairs.txt"
    f.write_text("1\t1\nNobody 1 2\nNobody 1 Noone 1\n")
    (tmp_path / "images").mkdir()
    assert main(["calibrate", "--pairs", str(f), "--images", str(tmp_path / "images")]) == 2
    assert "photo(s) named by" in capsys.readouterr().out
    assert main(["calibrate", "--pairs", str(f)]) == 2
    assert "--pairs needs --images" in capsys.readouterr().out


# --- accuracy and thresholds ------------------------------------------------------------------------------


def test_kfold_accuracy_chooses_the_threshold_on_the_other_folds():
    # Fold 0: one different pair (0.65) above a same pair (0.60); fold 1 separable, its lowest same pair 0.62.
    # Trained on fold 1 the threshold is 0.36 (midway 0.10..0.62): fold 0 loses its 0.65 pair -> 7/8.
    # Trained on fold 0, two cuts tie at 7/8 (0.35, 0.675); the later one is the middle of the tie -> fold 1 loses
    # its 0.62 pair -> 7/8.
    same_s = [0.9, 0.8, 0.7, 0.6, 0.9, 0.8, 0.7, 0.62]
    diff_s = [0.1, 0.0, -0.1, 0.65, 0.1, 0.0, -0.1, -0.2]
    scores = np.array(same_s + diff_s)
    same = np.array([True] * 8 + [False] * 8)
    folds = np.array([0] * 4 + [1] * 4 + [0] * 4 + [1] * 4)
    acc, per_fold = kfold_accuracy(scores, same, folds)
    assert acc == pytest.approx(0.875)
    assert per_fold[0]["threshold"] == pytest.approx(0.36)  # fold 0 tested, fold 1 trained
    assert per_fold[1]["threshold"] == pytest.approx(0.675)


def test_kfold_accuracy_of_two_gaussians_is_the_bayes_rate():
    from statistics import NormalDist

    rng = np.random.default_rng(1)
    n = 20_000
    scores = np.r_[rng.normal(1.0, 1.0, n), rng.normal(-1.0, 1.0, n)]
    same = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    acc, _ = kfold_accuracy(scores, same, cv_folds(same, 10))
    assert acc == pytest.approx(NormalDist().cdf(1.0), abs=0.01)  # 0.841 at the midpoint threshold
    with pytest.raises(ValueError):
        kfold_accuracy(scores, same, np.zeros(2 * n))


def test_far_thresholds_accept_at_most_that_share_and_are_the_lowest():
    impostor = np.arange(10_000) / 10_000  # distinct values 0.0000 .. 0.9999
    genuine = np.linspace(0.9, 1.0, 101)
    for far in (1e-2, 1e-3, 1e-4):
        t = threshold_at_far(impostor, far)
        accepted = int((impostor >= t).sum())
        assert accepted == round(far * impostor.size)  # exactly the allowed number: none more, none fewer
    assert threshold_at_far(impostor, 1e-5) is None  # 10,000 pairs cannot measure 1 in 100,000
    ties = np.array([0.5] * 5 + [0.1] * 995)
    assert (ties >= threshold_at_far(ties, 1e-3)).sum() == 0  # ties with a rejected score are rejected
    cal = Calibration.from_scores("m", "test", genuine, impostor)
    assert cal.thresholds[1e-5] is None and cal.tar[1e-6] is None
    assert cal.thresholds[1e-2] == pytest.approx(0.9899, abs=1e-6)
    assert cal.tar[1e-2] == pytest.approx(np.mean(genuine >= cal.thresholds[1e-2]))
    assert cal.far_at(0.99) == pytest.approx(0.01)


def test_thresholds_over_every_pair_of_photos_match_brute_force():
    rng = np.random.default_rng(2)
    people = np.repeat(np.arange(60), 4)
    centres = rng.standard_normal((60, DIM))
    emb = centres[people] + 1.5 * rng.standard_normal((people.size, DIM))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    genuine, imp_hist, n_imp, top = _all_pair_scores(emb, people, max(FARS), chunk=37)
    sims = emb @ emb.T
    iu = np.triu_indices(people.size, 1)
    same = people[iu[0]] == people[iu[1]]
    assert n_imp == int((~same).sum()) == imp_hist.sum()
    np.testing.assert_allclose(np.sort(genuine), np.sort(sims[iu][same]), atol=1e-6)
    thresholds, _tars = _thresholds_from_top(top, n_imp, genuine, FARS)
    for far in FARS:
        expected = threshold_at_far(sims[iu][~same], far)
        assert thresholds[far] == (None if expected is None else pytest.approx(expected, abs=1e-6))


def test_likelihood_ratio_is_monotone_finite_and_survives_storage():
    rng = np.random.default_rng(3)
    cal = Calibration.from_scores("buffalo_sc", "test", rng.normal(0.6, 0.12, 3000), rng.normal(0.0, 0.08, 100_000))
    s = np.linspace(-1, 1, 2001)
    llr = cal.log_likelihood_ratio(s)
    assert np.all(np.isfinite(llr)) and np.all(np.diff(llr) >= -1e-12)
    assert llr[0] < -5 and llr[-1] > 5 and cal.max_log_likelihood_ratio == pytest.approx(llr[-1])
    # Where no impostor was seen the ratio is bounded by "one impostor in n" (n = 100,001 with the pseudo-count).
    assert cal.max_log_likelihood_ratio <= np.log(100_001) + 1e-9
    # LLR 0 (equal likelihoods) falls between the two distributions.
    crossing = s[np.argmax(llr >= 0)]
    assert 0.2 < crossing < 0.4
    again = Calibration.from_json(cal.to_json())
    np.testing.assert_allclose(again.log_likelihood_ratio(s), llr)
    assert again.thresholds == cal.thresholds and again.n_genuine == 3000
    assert cal.log_likelihood_ratio(0.5).shape == ()
    empty = Calibration("m", "test", "2026-01-01", np.zeros(400), np.zeros(400))
    assert np.all(empty.log_likelihood_ratio(s) == 0)


# --- storage and the command, on PostgreSQL --------------------------------------------------------------


def _connect(url: str) -> psycopg.Connection:
    from face_assets.db.connection import register_vector

    conn = psycopg.connect(url)
    register_vector(conn)
    return conn


def _small_pair_file(tmp_path: Path, per_class: int = 6, folds: int = 2) -> Path:
    """The first `folds * per_class` same and different pairs of lfw_dev, as a `folds`-fold pair file."""
    lines = (LFW_DEV / "pairs.txt").read_text().splitlines()[1:]
    same = [ln for ln in lines if len(ln.split()) == 3][: folds * per_class]
    diff = [ln for ln in lines if len(ln.split()) == 4][: folds * per_class]
    body = []
    for f in range(folds):
        body += same[f * per_class : (f + 1) * per_class] + diff[f * per_class : (f + 1) * per_class]
    path = tmp_path / "pairs.txt"
    path.write_text(f"{folds}\t{per_class}\n" + "\n".join(body) + "\n")
    return path


def test_calibrate_apply_round_trip(migrated_db, tmp_path, monkeypatch, capsys):
    require_fixtures()
    monkeypatch.setenv("DATABASE_URL", migrated_db)
    pairs = _small_pair_file(tmp_path, per_class=3)
    report = tmp_path / "report.json"
    assert (
        main(
            [
                "calibrate",
                "--pairs",
                str(pairs),
                "--images",
                str(LFW_DEV / "images"),
                "--pairs-only",
                "--report",
                str(report),
                "--apply",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "accuracy" in out and "applied" in out
    data = json.loads(report.read_text())
    assert data["model"] == "buffalo_sc" and data["date"] and 0.5 <= data["accuracy"] <= 1.0
    assert {t["far"] for t in data["thresholds"]} == set(FARS)
    with _connect(migrated_db) as conn:
        stored = load_calibration(conn, "buffalo_sc")
        assert stored is not None and stored.source == "pairs:pairs.txt"
        assert stored.details["pairs_file"] == str(pairs.resolve())
        assert stored.to_dict() == Calibration.from_dict(data["calibration"]).to_dict()
        assert load_calibration(conn, "buffalo_l") is None
        # A second store replaces the first; the matching settings are untouched.
        store_calibration(conn, Calibration.from_scores("buffalo_sc", "test", [0.7], [0.0] * 200))
        assert load_calibration(conn, "buffalo_sc").source == "test"
        from face_assets.recognition.config import RecognitionConfig

        assert RecognitionConfig.load(conn, model="buffalo_sc").match_threshold == pytest.approx(
            RecognitionConfig().for_model("buffalo_sc").match_threshold
        )


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_calibrate_from_library_counts_what_people_decided(migrated_db, monkeypatch, capsys):
    """Synthetic faces of known identity in the migrated fixture database: confirmed, rejected, legacy-tagged."""
    monkeypatch.setenv("DATABASE_URL", migrated_db)
    rng = np.random.default_rng(4)
    with _connect(migrated_db) as conn:
        from face_assets.recognition.matching import ensure_schema

        ensure_schema(conn)
        creators = [r[0] for r in conn.execute("SELECT id FROM creators ORDER BY id LIMIT 4")]
        videos = [r[0] for r in conn.execute("SELECT id FROM videos ORDER BY id LIMIT 6")]
        conn.execute("DELETE FROM video_creators WHERE video_id = ANY(%s)", (videos,))  # only the tags made here
        ids = {c: _unit(rng.standard_normal(DIM)) for c in creators}
        for c in creators:
            conn.execute(
                "INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path)"
                " VALUES (%s, %s, 'profile_picture', %s)",
                (c, ids[c], f"/p/{c}.jpg"),
            )

        def face(video, creator, status, noise=0.8):
            return conn.execute(
                "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
                " bbox_width, bbox_height, match_status, matched_creator_id, decided_at)"
                " VALUES (%s, 0, 0, %s, 0, 0, 100, 100, %s, %s, now()) RETURNING id",
                (
                    video,
                    _unit(ids[creator] + noise * _unit(rng.standard_normal(DIM))),
                    status,
                    creator if status == "manual" else None,
                ),
            ).fetchone()[0]

        # creator 0 confirmed in videos 0, 1, 2; creator 1 in videos 0 and 3
        for v in (0, 1, 2):
            face(videos[v], creators[0], "manual")
        for v in (0, 3):
            face(videos[v], creators[1], "manual")
        # a face of creator 2 rejected as creator 3
        rej = face(videos[4], creators[2], "rejected")
        conn.execute(
            "INSERT INTO face_match_rejections (detection_id, video_id, frame_index, bbox_x, bbox_y,"
            " bbox_width, bbox_height, creator_id) VALUES (%s, %s, 0, 0, 0, 100, 100, %s)",
            (rej, videos[4], creators[3]),
        )
        # video 5 tagged (legacy) with creator 2, two faces in it: the creator's and a stranger's
        face(videos[5], creators[2], "unmatched")
        conn.execute(
            "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x,"
            " bbox_y, bbox_width, bbox_height, match_status) VALUES (%s, 0, 1, %s, 0, 0, 100, 100,"
            " 'unmatched')",
            (videos[5], _unit(rng.standard_normal(DIM))),
        )
        conn.execute(
            "INSERT INTO video_creators (video_id, creator_id, source) VALUES (%s, %s, 'legacy')",
            (videos[5], creators[2]),
        )
        conn.commit()
        cal = measure_mod.calibrate_library(conn, "buffalo_sc")
        # legacy tags on other fixture videos have no faces: only video 5's counts
    d = cal.details
    assert (d["confirmed_faces"], d["creators_confirmed"], d["rejections"], d["tagged_videos_used"]) == (5, 2, 1, 1)
    g, i = d["genuine_by_source"], d["impostor_by_source"]
    assert g["confirmed face vs its creator's pictures"] == 5
    assert g["confirmed faces of one creator, two videos"] == 3 + 1  # C(3,2) for creator 0, 1 for creator 1
    assert g["best face of a tagged video vs its creator's pictures"] == 1
    assert i["confirmed face vs other creators' pictures"] == 5 * 3
    assert i["confirmed faces of two creators"] == 3 * 2 - 1  # videos[0] holds one of each: same video, left out
    assert i["rejected face vs that creator's pictures"] == 1
    assert cal.n_genuine == 10 and cal.n_impostor == 21
    assert all(t is None for t in cal.thresholds.values())  # 21 impostor pairs measure no FAR <= 1e-2
    # the tagged video's best face is the creator's, not the stranger's
    assert cal.genuine_hist[np.searchsorted(BIN_EDGES, 0.5) :].sum() == cal.n_genuine
    assert not d["enough_to_apply"]
    assert main(["calibrate", "--from-library", "--apply"]) == 3
    out = capsys.readouterr().out
    assert "5 confirmed faces of 2 creators" in out and "not enough decisions" in out and "not applied" in out
    with _connect(migrated_db) as conn:
        assert load_calibration(conn, "buffalo_sc") is None


@pytest.mark.slow
def test_calibrate_from_library_on_the_processed_fixture_library(
    pg_server, tmp_path_factory, monkeypatch, capsys, request
):
    """The real pipeline over the fixture library, then a person's decisions, then --from-library."""
    from dagster import instance_for_test

    from face_assets.cli.runner import run_pipeline
    from face_assets.review import decisions as review
    from face_assets_tests.conftest import LEGACY_DB, LIBRARY, _create_database, _drop_database

    require_fixtures()
    url = _create_database(pg_server, "calib")
    request.addfinalizer(lambda: _drop_database(pg_server, url))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path_factory.mktemp("calib_home")))
    monkeypatch.setenv("FACE_ASSETS_LEGACY_DB", str(LEGACY_DB))
    monkeypatch.setenv("FACE_ASSETS_PATH_MAP", f"/srv/media={LIBRARY}")
    with instance_for_test() as instance:
        assert run_pipeline(instance)
    with _connect(url) as conn:
        # faces of videos without a legacy tag: the legacy tag (slideshow_01: Ariel Sharon) stays a tag-only positive
        pending = conn.execute(
            "SELECT id, matched_creator_id FROM video_face_detections d"
            " WHERE match_status IN ('pending', 'matched') AND matched_creator_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM video_creators vc WHERE vc.video_id = d.video_id"
            "                 AND vc.source = 'legacy')"
            " ORDER BY match_confidence DESC"
        ).fetchall()
        assert len(pending) >= 2
        review.confirm(conn, [pending[0][0]])
        review.reject(conn, [pending[-1][0]])
        conn.commit()
    assert main(["calibrate", "--from-library"]) == 0
    out = capsys.readouterr().out
    assert "confirmed faces" in out and "rejections" in out
    with _connect(url) as conn:
        cal = measure_mod.calibrate_library(conn, "buffalo_sc")
    assert cal.details["confirmed_faces"] >= 1 and cal.details["rejections"] >= 1
    assert cal.details["tagged_videos_used"] >= 1  # the fixture's legacy tags on processed videos
    assert cal.n_genuine >= 1 and cal.n_impostor >= 1


# --- a small real run through FaceEngine ------------------------------------------------------------------


def test_real_run_over_a_few_lfw_dev_pairs(tmp_path):
    from face_assets.engine.face_engine import FaceEngine

    if not (LFW_DEV / "pairs.txt").exists():
        pytest.skip(f"lfw_dev not found at {LFW_DEV}")
    pairs = _small_pair_file(tmp_path, per_class=5)
    engine = FaceEngine()
    report = calibrate_pairs(engine, pairs, LFW_DEV / "images", all_photos=False, cache=tmp_path / "cache")
    d = report.to_dict()
    assert report.accuracy >= 0.8  # 20 easy-ish pairs; the model reaches ~0.99 on the whole set
    assert d["pairs"]["genuine"]["n"] == 10 and d["pairs"]["impostor"]["n"] == 10
    assert d["pairs"]["genuine"]["median"] > 0.3 > d["pairs"]["impostor"]["median"]
    assert report.calibration.details["photos"] == len(parse_pairs(pairs).photos())
    assert d["no_face"] == len(d["no_face_photos"])
    # ~30 photos give a few hundred impostor pairs: FAR 1e-2 measurable, 1e-4 not
    assert report.calibration.thresholds[1e-2] is not None and report.calibration.thresholds[1e-4] is None
    assert report.calibration.details["embedding"]["embedded_now"] == report.calibration.details["photos"]
    again = calibrate_pairs(engine, pairs, LFW_DEV / "images", all_photos=False, cache=tmp_path / "cache")
    assert again.calibration.details["embedding"]["embedded_now"] == 0  # all from the cache
    assert again.accuracy == report.accuracy
    np.testing.assert_array_equal(again.calibration.impostor_hist, report.calibration.impostor_hist)
    assert any("accuracy" in line for line in report.lines())


def test_shipped_calibration_loads_when_present():
    shipped = store_mod.shipped_calibration("buffalo_sc")
    if shipped is None:
        pytest.skip("no shipped calibration for buffalo_sc")
    assert shipped.model == "buffalo_sc" and shipped.n_impostor > 1_000_000
    assert all(shipped.thresholds[far] is not None for far in FARS)
    assert store_mod.shipped_calibration("no_such_model") is None


def test_suggested_settings_round_up_and_apply_writes_them(migrated_db):
    from face_assets.recognition.config import RecognitionConfig

    cal = Calibration(
        "buffalo_sc",
        "test",
        "2026-01-01",
        np.zeros(400),
        np.zeros(400),
        thresholds={1e-2: 0.18, 1e-4: 0.2998, 1e-6: 0.401},
    )
    assert store_mod.suggested_settings(cal) == {"match_threshold": 0.30, "auto_tag_threshold": 0.45}
    assert store_mod.suggested_settings(
        Calibration("m", "t", "d", np.zeros(400), np.zeros(400), thresholds={1e-4: 0.31, 1e-6: None})
    ) == {"match_threshold": 0.35}
    with _connect(migrated_db) as conn:
        cal = Calibration(
            "buffalo_sc", "test", "2026-01-01", np.zeros(400), np.zeros(400), thresholds={1e-4: 0.33, 1e-6: 0.52}
        )
        assert store_mod.apply_calibration(conn, cal) == {"match_threshold": 0.35, "auto_tag_threshold": 0.55}
        config = RecognitionConfig.load(conn, model="buffalo_sc")
        assert (config.match_threshold, config.auto_tag_threshold) == (0.35, 0.55)
        assert RecognitionConfig.load(conn, model="buffalo_l").match_threshold == 0.30  # other models untouched
        assert load_calibration(conn, "buffalo_sc").thresholds[1e-6] == 0.52
        cal = Calibration(
            "buffalo_sc",
            "test",
            "2026-01-01",
            np.zeros(400),
            np.zeros(400),
            thresholds={1e-4: 0.33, 1e-5: 0.41, 1e-6: 0.52},
        )
        assert store_mod.apply_calibration(conn, cal)["cluster_similarity"] == 0.45
        from face_assets.recognition.clustering import ClusteringConfig

        assert ClusteringConfig.load(conn, model="buffalo_sc").similarity == 0.45  # clustering follows it


def test_model_defaults_of_the_fixture_pack_follow_its_shipped_calibration():
    from face_assets.recognition.config import MODEL_DEFAULTS, MODEL_DEFAULTS_SOURCE

    shipped = store_mod.shipped_calibration("buffalo_sc")
    assert shipped is not None and shipped.source == "pairs:pairs.txt" and shipped.accuracy > 0.98
    from face_assets.recognition.clustering import MODEL_SIMILARITY

    suggested = store_mod.suggested_settings(shipped)
    assert suggested["cluster_similarity"] == MODEL_SIMILARITY["buffalo_sc"]  # clustering's link threshold too
    for key, value in suggested.items():
        if key != "cluster_similarity":
            assert MODEL_DEFAULTS["buffalo_sc"][key] == value, key
    assert "calibrate" in MODEL_DEFAULTS_SOURCE["buffalo_sc"] and "not calibrated" in MODEL_DEFAULTS_SOURCE["buffalo_l"]
    assert store_mod.shipped_calibration("buffalo_l") is None


def test_the_shipped_calibration_lets_a_well_seen_face_reach_the_auto_tag_target():
    """lfw_dev's every pair of photos bounds a face's LLR near 14.7 (one virtual impostor among 11.6M), not near
    ln(14.7): its label-error impostors at 0.55-0.69 only flatten the top. Frames of one video count as <= 2 looks."""
    from face_assets.recognition.evidence import face_llr, fuse, target_llr

    shipped = store_mod.shipped_calibration("buffalo_sc")
    assert shipped is not None
    assert shipped.max_log_likelihood_ratio > 12
    assert cal_mod.max_gallery(shipped, 0.5, 0.01) > 1e9
    target = target_llr(30, 0.01)  # ~8.0
    seen_well = face_llr(shipped, [0.5] * 7, [0.1] * 7)
    assert fuse(range(7), seen_well, 0.5) > 2 * target
    stranger = face_llr(shipped, [0.25] * 7, [0.1] * 7)  # a stranger's best at FAR 1e-3: far short
    assert fuse(range(7), stranger, 0.5) < target / 4


def test_the_evidence_ceiling_follows_the_number_of_impostor_pairs():
    """A pair file's ~10^3 impostor pairs bound a face's LLR near ln(10^3): the report says how far that goes."""
    rng = np.random.default_rng(5)
    small = Calibration.from_scores("m", "t", rng.normal(0.6, 0.1, 1000), rng.normal(0.0, 0.07, 1000))
    assert math.log(100) < small.max_log_likelihood_ratio < math.log(2000)
    n = cal_mod.max_gallery(small, 0.5, 0.01)
    assert math.log(n / 0.01) == pytest.approx(2 * small.max_log_likelihood_ratio)
    assert cal_mod.max_gallery(small, 1.0, 0.01) < n  # fully correlated frames: one look
    line = measure_mod.evidence_ceiling_lines(small)[0]
    assert "auto-tags possible with up to" in line and f"{n:.3g}" in line
    assert cal_mod.max_gallery(Calibration("m", "t", "d", np.zeros(400), np.zeros(400)), 0.5, 0.01) == 0
