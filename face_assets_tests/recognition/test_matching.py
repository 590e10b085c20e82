"""Matching and auto-tagging on real PostgreSQL, with synthetic unit vectors of known similarity, plus the fixture
library end to end (sampled_frames + face_detections + creator_embeddings + face_matches with the real model)."""

import json
import re

import numpy as np
import psycopg
import pytest

from face_assets.db.sql_files import read_sql, run_sql_file
from face_assets.recognition.config import MODEL_DEFAULTS, SCHEMA_SEEDS, RecognitionConfig
from face_assets.recognition.matching import (
    CreatorMatrix,
    match_detections,
    nearest_creators,
    refresh_video_tags,
    reject_match,
    same_different_similarities,
)

# Round numbers for the synthetic tests; the rule's shape is what is tested, not the fixture model's values.
# No learned references here (they would change later matches on purpose): face_assets_tests/recognition/test_learning.py.
CONFIG = RecognitionConfig(
    match_threshold=0.3, auto_tag_threshold=0.45, auto_tag_min_frames=2, auto_tag_margin=0.10, learn_max_per_creator=0
)
DIM = 512


# --- helpers (also used by face_assets_tests/defs/faces/test_schedules.py) ------------------------------------


def setup_schema(url: str, creators: int = 8, videos: int = 4) -> None:
    """The tables matching needs (legacy videos/creators/video_creators + face schema) and a few rows."""
    with psycopg.connect(url) as conn:
        for table in ("watched_directories", "videos", "creators", "video_creators"):
            run_sql_file(conn, f"legacy/{table}.sql")
        run_sql_file(conn, "face/schema.sql")
        conn.execute("INSERT INTO watched_directories (id, path) VALUES (1, '/media')")
        conn.execute(
            "INSERT INTO creators (id, name) SELECT g, 'creator ' || g FROM generate_series(1, %s) g", (creators,)
        )
        conn.execute(
            "INSERT INTO videos (id, file_path, file_name, directory_id, file_size_bytes)"
            " SELECT g, '/media/v' || g || '.mp4', 'v' || g || '.mp4', 1, 1000 FROM generate_series(1, %s) g",
            (videos,),
        )


def connect(url: str) -> psycopg.Connection:
    from face_assets.db.connection import register_vector

    conn = psycopg.connect(url)
    register_vector(conn)
    return conn


def unit(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    """`n` random unit vectors, mutually orthogonal (so similarities between creators are exactly 0)."""
    q, _ = np.linalg.qr(rng.standard_normal((DIM, n)))
    return q.T.astype(np.float32)


def at_similarity(rng: np.random.Generator, base: np.ndarray, sim: float, *others: np.ndarray) -> np.ndarray:
    """A unit vector whose cosine similarity to `base` is exactly `sim` and to each of `others` ~0 (if unit
    `others` are ~orthogonal to base; random 512-d vectors are, within ~0.05)."""
    noise = rng.standard_normal(DIM)
    for b in (base, *others):
        noise -= noise.dot(b) * b
    noise /= np.linalg.norm(noise)
    return (sim * base + np.sqrt(1 - sim * sim) * noise).astype(np.float32)


def add_embedding(conn, creator_id: int, vector, source_type: str = "manual", path: str | None = None) -> int:
    path = path or f"/ref/{creator_id}/{np.random.default_rng().integers(1 << 40)}.jpg"
    return conn.execute(
        "INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (creator_id, np.asarray(vector, dtype=np.float32), source_type, path),
    ).fetchone()[0]


def add_face(
    conn,
    video_id: int,
    frame_index: int,
    vector,
    *,
    status: str = "pending",
    creator_id=None,
    confidence=None,
    decided: bool = False,
    box=(10.0, 10.0, 100.0, 100.0),
) -> int:
    return conn.execute(
        "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
        " bbox_width, bbox_height, quality_score, match_status, matched_creator_id, match_confidence, decided_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0.8, %s, %s, %s, CASE WHEN %s THEN now() END) RETURNING id",
        (
            video_id,
            float(frame_index),
            frame_index,
            np.asarray(vector, dtype=np.float32),
            *box,
            status,
            creator_id,
            confidence,
            decided,
        ),
    ).fetchone()[0]


def face(conn, detection_id: int) -> tuple:
    return conn.execute(
        "SELECT match_status, matched_creator_id, round(match_confidence::numeric, 3)::float, decided_at"
        " FROM video_face_detections WHERE id = %s",
        (detection_id,),
    ).fetchone()


def tags(conn, video_id: int | None = None) -> set[tuple]:
    rows = conn.execute(
        "SELECT video_id, creator_id, source, round(confidence::numeric, 3)::float FROM video_creators"
        + (" WHERE video_id = %s" if video_id is not None else ""),
        (video_id,) if video_id is not None else None,
    ).fetchall()
    return set(rows)


@pytest.fixture
def db(fresh_db):
    setup_schema(fresh_db)
    return fresh_db


@pytest.fixture
def rng():
    return np.random.default_rng(4)


# --- exactness -----------------------------------------------------------------------------------


def test_matching_is_exact_against_brute_force_sql(db, rng, monkeypatch):
    """Every face's creator and similarity equal an exact scan with pgvector's <=> (max over a creator's rows)."""
    import face_assets.recognition.matching as matching

    monkeypatch.setattr(matching, "WRITE_BATCH", 7)  # results written in many statements
    monkeypatch.setattr(matching, "FETCH_CHUNK", 50)  # faces read in several COPY chunks
    creators = unit(rng, 8)
    with connect(db) as conn:
        for c in range(8):  # 1-3 embeddings per creator: the per-creator max matters
            add_embedding(conn, c + 1, creators[c])
            for _ in range(c % 3):
                add_embedding(conn, c + 1, at_similarity(rng, creators[c], 0.8))
        faces = []
        for i in range(240):
            target = creators[i % 8]
            sim = [0.9, 0.6, 0.4, 0.32, 0.28, 0.1][i % 6]
            faces.append(add_face(conn, 1 + i % 4, i % 5, at_similarity(rng, target, sim)))
        conn.commit()

        summary = match_detections(conn, CONFIG, video_ids=[1, 2, 3, 4])
        assert summary.faces == 240 and summary.creator_embeddings == 8 + sum(c % 3 for c in range(8))

        conn.execute("SET enable_indexscan = off")  # exact scan, no HNSW
        brute = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                "SELECT DISTINCT ON (d.id) d.id, c.creator_id, 1 - (d.embedding <=> c.embedding)"
                " FROM video_face_detections d CROSS JOIN creator_face_embeddings c"
                " ORDER BY d.id, d.embedding <=> c.embedding"
            )
        }
        stored = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT id, match_status, matched_creator_id, match_confidence FROM video_face_detections"
            )
        }
    assert set(stored) == set(faces)
    for detection_id, (status, creator_id, confidence) in stored.items():
        best_creator, best_sim = brute[detection_id]
        if best_sim >= CONFIG.match_threshold:
            assert status in ("pending", "matched") and creator_id == best_creator
            assert confidence == pytest.approx(best_sim, abs=1e-5)
        else:
            assert (status, creator_id, confidence) == ("unmatched", None, None)
    unmatched = sum(s == "unmatched" for s, *_ in stored.values())
    assert unmatched == sum(sim < CONFIG.match_threshold for _, sim in brute.values()) and 60 <= unmatched <= 100


def test_nearest_creators_with_vetoes_and_chunks(rng, monkeypatch):
    import face_assets.recognition.matching as matching

    monkeypatch.setattr(matching, "PRODUCT_BUDGET", 50)  # force many small chunks
    creators = unit(rng, 5)
    ids = [10, 20, 20, 30, 40]
    matrix = CreatorMatrix.from_rows(ids, creators)
    faces = np.stack([at_similarity(rng, creators[0], 0.7), at_similarity(rng, creators[2], 0.9)] * 20)
    best, sims = nearest_creators(faces, matrix, [{10} if i == 0 else () for i in range(40)])
    assert best[0] != 10  # vetoed: the next best, whatever it is, never 10
    assert list(best[1:4]) == [20, 10, 20]
    full = faces @ creators.T
    assert sims[1] == pytest.approx(full[1].max(), abs=1e-6)
    only_vetoed, _ = nearest_creators(faces[:1], CreatorMatrix.from_rows([10], creators[:1]), [{10}])
    assert only_vetoed[0] == -1


def brute_nearest(faces: np.ndarray, matrix: CreatorMatrix, vetoes) -> tuple[np.ndarray, np.ndarray]:
    """The definition, one face at a time: the max over each allowed creator's embeddings, ties to the lower id."""
    ids, sims = [], []
    for i, f in enumerate(faces / np.linalg.norm(faces, axis=1, keepdims=True)):
        best = (-1, -np.inf)
        for j, creator in enumerate(matrix.creator_ids):
            if creator in vetoes[i]:
                continue
            sim = float((matrix.embeddings[matrix.starts[j] : matrix.ends[j]] @ f).max())
            if sim > best[1]:
                best = (int(creator), sim)
        ids.append(best[0])
        sims.append(best[1])
    return np.array(ids), np.array(sims)


@pytest.mark.parametrize("pair_cost", [1, 10**6])  # candidates compared one by one / their rows as a full product
def test_centroid_bounded_search_gives_the_exact_answer(rng, monkeypatch, pair_cost):
    """Creators of 1-8 embeddings around an identity, faces of creators, of strangers, exact copies of creator
    embeddings, ties between two creators holding the same embedding, and vetoes: the bounded search answers as
    the definition does, and it really skips products (most faces of creators never reach the full product)."""
    import face_assets.recognition.matching as matching

    monkeypatch.setattr(matching, "PRODUCT_BUDGET", 4_000)  # several chunks
    monkeypatch.setattr(matching, "PRUNE_MIN_EMBEDDINGS", 0)  # the bounded search at this small size too
    monkeypatch.setattr(matching, "PAIR_COST", pair_cost)
    k = 40
    centres = rng.standard_normal((k, DIM)).astype(np.float32)
    sigma = np.sqrt((1 / 0.7 - 1) / DIM)  # samples of one identity at cosine ~0.7
    ids, rows = [], []
    for c in range(k):
        for _ in range(1 + c % 8):
            ids.append(100 + c)
            rows.append(centres[c] / np.linalg.norm(centres[c]) + sigma * rng.standard_normal(DIM))
    rows.append(rows[0])  # creator 99 holds creator 100's first embedding: a tie, the lower id must win
    ids.append(99)
    matrix = CreatorMatrix.from_rows(ids, np.array(rows, dtype=np.float32))
    known = [
        centres[c] / np.linalg.norm(centres[c]) + sigma * rng.standard_normal(DIM) for c in rng.integers(0, k, 150)
    ]
    strangers = list(rng.standard_normal((60, DIM)))
    # Between two creators: the runner-up's bound decides whether it is compared, so a loose bound is caught here.
    pair = rng.integers(0, k, (150, 2))
    blends = [
        matrix.embeddings[matrix.starts[a]] * w + matrix.embeddings[matrix.ends[b] - 1] * (1 - w)
        for (a, b), w in zip(pair, rng.uniform(0.3, 0.7, 150))
    ]
    copies = [matrix.embeddings[j] for j in rng.integers(0, matrix.n_embeddings, 20)] + [rows[0]]
    faces = np.array(known + strangers + blends + copies, dtype=np.float32)
    vetoes = [{int(ids[int(rng.integers(0, len(ids)))])} if i % 17 == 0 else set() for i in range(len(faces))]

    full_rows = []
    real_full = matching._full_best
    monkeypatch.setattr(
        matching, "_full_best", lambda q, *a, **kw: (full_rows.append(q.shape[0]), real_full(q, *a, **kw))[1]
    )
    got_ids, got_sims = nearest_creators(faces, matrix, vetoes)
    want_ids, want_sims = brute_nearest(faces, matrix, vetoes)
    assert got_ids.tolist() == want_ids.tolist()
    assert np.allclose(got_sims, want_sims, atol=1e-5)
    assert got_ids[-1] == 99 and got_sims[-1] == pytest.approx(1.0, abs=1e-5)
    assert sum(full_rows) < len(known) / 2 + len(strangers) + len(blends) + sum(bool(v) for v in vetoes)

    # Without vetoes too (every face through the bounded search), and one embedding per creator (no pruning).
    got_ids, _ = nearest_creators(faces, matrix)
    assert got_ids.tolist() == brute_nearest(faces, matrix, [set()] * len(faces))[0].tolist()
    single = CreatorMatrix.from_rows(list(range(1, k + 1)), centres)
    assert nearest_creators(faces, single)[0].tolist() == brute_nearest(faces, single, [set()] * len(faces))[0].tolist()


@pytest.mark.parametrize("pair_cost", [1, 10**6])
def test_a_creator_is_skipped_only_when_its_bound_proves_it_cannot_win(rng, monkeypatch, pair_cost):
    """Faces for which the runner-up's bound is exactly reached: creator B's face q points from B's centroid to its
    farthest embedding (q.e = q.centroid + radius), creator A's embeddings sit at similarity q.e - margin with A's
    centroid nearest to q. B wins by `margin`; a bound tighter than the truth by more than the margin would skip B."""

    def unit_rows(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    import face_assets.recognition.matching as matching

    monkeypatch.setattr(matching, "PRUNE_MIN_EMBEDDINGS", 0)
    monkeypatch.setattr(matching, "PAIR_COST", pair_cost)
    for margin in [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05]:
        b = rng.standard_normal((5, DIM))
        b[1:] = b[1] + 0.1 * b[1:]  # four embeddings together, one far from the centroid
        b = unit_rows(b)
        q = unit_rows(b[0] - b.mean(axis=0))
        v = float(q @ b[0])
        others = rng.standard_normal((3, DIM))
        others -= np.outer(others @ q, q)  # orthogonal to q
        a = unit_rows((v - margin) * q + np.sqrt(1 - (v - margin) ** 2) * unit_rows(others))
        centre = rng.standard_normal(DIM)
        centre -= (centre @ q) * q
        far = unit_rows(unit_rows(centre) + 0.02 * rng.standard_normal((4, DIM)))  # a tight creator far from q
        matrix = CreatorMatrix.from_rows([10] * 3 + [11] * 5 + [12] * 4, np.concatenate([a, b, far]))
        got, sims = nearest_creators(q[None, :], matrix)
        assert got.tolist() == [11] and sims[0] == pytest.approx(v, abs=1e-6), margin
        assert brute_nearest(q[None, :], matrix, [set()])[0].tolist() == [11]


# --- statuses, evidence and the rule -------------------------------------------------------------


def test_statuses_evidence_and_auto_tags(db, rng):
    c = unit(rng, 5)
    with connect(db) as conn:
        for i in range(5):
            add_embedding(conn, i + 1, c[i], "profile_picture", f"/pics/{i + 1}.jpg")
        # The rule itself: face_assets_tests/recognition/test_evidence.py. Here, with CONFIG's likelihood model
        # (no calibration) and 5 creators, the target is ln(5 / 0.01) = 6.2; face LLRs: 0.32 -> 2.8, 0.35 -> 4.5,
        # 0.36 -> 5.0, from ~0.44 on the bound 9.2.
        # video 1: creator 1 well seen in two frames -> tag; creator 2 once at 0.36 -> pending only
        a1 = add_face(conn, 1, 0, at_similarity(rng, c[0], 0.60))
        a2 = add_face(conn, 1, 1, at_similarity(rng, c[0], 0.52))
        a3 = add_face(conn, 1, 1, at_similarity(rng, c[0], 0.35))  # a weaker face of creator 1 in a tagged pair
        b1 = add_face(conn, 1, 2, at_similarity(rng, c[1], 0.36))
        # video 2: creator 3 once, very well -> tag; creator 4 at 0.35 -> pending; a stranger -> unmatched
        d1 = add_face(conn, 2, 0, at_similarity(rng, c[2], 0.62))
        e1 = add_face(conn, 2, 1, at_similarity(rng, c[3], 0.35))
        s1 = add_face(conn, 2, 2, unit(rng)[0])
        # video 3: creator 5 in three frames, weakly: correlated frames, 1.5 x 2.8 < 6.2 -> pending, no tag
        f = [add_face(conn, 3, i, at_similarity(rng, c[4], 0.32)) for i in range(3)]
        conn.commit()

        summary = match_detections(conn, CONFIG, video_ids=[1, 2, 3])
        assert {i: face(conn, i)[:3] for i in (a1, a2, a3)} == {
            a1: ("matched", 1, 0.6),
            a2: ("matched", 1, 0.52),
            a3: ("matched", 1, 0.35),
        }
        assert face(conn, b1)[:3] == ("pending", 2, 0.36)
        assert face(conn, d1)[:3] == ("matched", 3, 0.62)
        assert face(conn, e1)[:3] == ("pending", 4, 0.35)
        assert face(conn, s1)[:3] == ("unmatched", None, None)
        assert {face(conn, i)[:2] for i in f} == {("pending", 5)}
        assert tags(conn) == {(1, 1, "face_recognition", 0.6), (2, 3, "face_recognition", 0.62)}
        assert summary.tags.tags_added == 2 and summary.statuses == {"matched": 4, "pending": 5, "unmatched": 1}

        # Idempotent: a second run changes nothing and adds no tag twice.
        again = match_detections(conn, CONFIG, video_ids=[1, 2, 3])
        assert again.rows_written == 0 and again.tags.tags_added == 0 and again.tags.tags_removed == 0
        assert len(tags(conn)) == 2


def test_legacy_and_manual_tags_are_never_duplicated_or_changed(db, rng):
    c = unit(rng, 2)
    with connect(db) as conn:
        conn.execute("INSERT INTO video_creators (video_id, creator_id) VALUES (1, 1)")  # legacy by default
        conn.execute("INSERT INTO video_creators (video_id, creator_id, source) VALUES (1, 2, 'manual')")
        add_embedding(conn, 1, c[0])
        add_embedding(conn, 2, c[1])
        for frame in range(3):
            add_face(conn, 1, frame, at_similarity(rng, c[0], 0.7))
            add_face(conn, 1, frame, at_similarity(rng, c[1], 0.7, c[0]), box=(200.0, 10.0, 90.0, 90.0))
        conn.commit()
        summary = match_detections(conn, CONFIG, video_ids=[1])
        assert tags(conn, 1) == {(1, 1, "legacy", None), (1, 2, "manual", None)}
        assert summary.tags.tags_added == 0 and summary.statuses == {"matched": 6}
        # Evidence gone (faces rejected): a legacy/manual tag stays all the same.
        ids = [r[0] for r in conn.execute("SELECT id FROM video_face_detections")]
        reject_match(conn, CONFIG, ids)
        assert tags(conn, 1) == {(1, 1, "legacy", None), (1, 2, "manual", None)}


# --- decisions -----------------------------------------------------------------------------------


def test_decisions_are_never_overwritten(db, rng):
    c = unit(rng, 3)
    with connect(db) as conn:
        for i in range(3):
            add_embedding(conn, i + 1, c[i])
        manual = add_face(
            conn, 1, 0, at_similarity(rng, c[0], 0.9), status="manual", creator_id=3, confidence=None, decided=True
        )
        rejected = add_face(
            conn, 1, 1, at_similarity(rng, c[0], 0.9), status="rejected", creator_id=1, confidence=0.9, decided=True
        )
        deferred = add_face(
            conn, 1, 2, at_similarity(rng, c[1], 0.9), status="pending", creator_id=None, decided=True
        )  # decided_at set: a person's decision, whatever the status
        unmatched_decided = add_face(conn, 1, 3, at_similarity(rng, c[1], 0.9), status="unmatched", decided=True)
        conn.commit()
        before = {i: face(conn, i) for i in (manual, rejected, deferred, unmatched_decided)}

        summary = match_detections(conn, CONFIG, video_ids=[1])
        match_detections(conn, CONFIG, detection_ids=list(before))  # explicitly asked for: still untouched
        refresh_video_tags(conn, CONFIG, [1])
        assert summary.faces == 0
        assert {i: face(conn, i) for i in before} == before
        assert tags(conn) == set()  # decided faces are no machine evidence


def test_a_rejected_creator_is_never_proposed_again(db, rng):
    c = unit(rng, 3)
    with connect(db) as conn:
        for i in range(3):
            add_embedding(conn, i + 1, c[i])
        # The face is most like creator 1 (0.5), then creator 2 (0.36): proposals, not auto-tags (creator 1 has
        # creator 2 as a close runner-up; creator 2 alone, one face at 0.36, is short of the target).
        vec = 0.5 * c[0] + 0.36 * c[1] + np.sqrt(1 - 0.25 - 0.36**2) * at_similarity(rng, c[2], 0.0, c[0], c[1])
        one = add_face(conn, 1, 0, vec, box=(10.0, 10.0, 100.0, 100.0))
        two = add_face(conn, 2, 0, vec)
        conn.commit()
        match_detections(conn, CONFIG, video_ids=[1, 2])
        assert face(conn, one)[:2] == ("pending", 1)

        # The review CLI rejects and asks for the next proposal: creator 2, never creator 1 again.
        reject_match(conn, CONFIG, [one], repropose=True)
        assert face(conn, one)[:3] == ("pending", 2, 0.36) and face(conn, one)[3] is None
        match_detections(conn, CONFIG, video_ids=[1])
        assert face(conn, one)[1] == 2

        # A plain 'rejected' decision (as a person sets it): never touched; reopened later, still not creator 1.
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'rejected', decided_at = now() WHERE id = %s", (two,)
        )
        match_detections(conn, CONFIG, video_ids=[2])
        assert face(conn, two)[:2] == ("rejected", 1)
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'pending', decided_at = NULL WHERE id = %s", (two,)
        )
        match_detections(conn, CONFIG, video_ids=[2])
        assert face(conn, two)[:2] == ("pending", 2)

        # The veto survives re-detection: a new row for the same face (same frame, IoU > 0.5) never gets creator 1.
        conn.execute("DELETE FROM video_face_detections WHERE id = %s", (one,))
        again = add_face(conn, 1, 0, vec, box=(12.0, 11.0, 98.0, 101.0))
        elsewhere = add_face(conn, 1, 0, vec, box=(400.0, 10.0, 100.0, 100.0))  # another face of the frame
        conn.commit()
        match_detections(conn, CONFIG, video_ids=[1])
        assert face(conn, again)[:2] == ("pending", 2)
        assert face(conn, elsewhere)[:2] == ("pending", 1)


def test_rejecting_faces_removes_an_auto_tag_whose_evidence_is_gone(db, rng):
    c = unit(rng, 1)
    with connect(db) as conn:
        add_embedding(conn, 1, c[0])
        ids = [add_face(conn, 1, frame, at_similarity(rng, c[0], 0.6)) for frame in range(3)]
        conn.commit()
        match_detections(conn, CONFIG, video_ids=[1])
        assert tags(conn, 1) == {(1, 1, "face_recognition", 0.6)}
        reject_match(conn, CONFIG, ids[:2])  # one frame left, at 0.6 >= 0.45 + 0.10: the tag stays
        assert tags(conn, 1) == {(1, 1, "face_recognition", 0.6)}
        reject_match(conn, CONFIG, ids[2:])
        assert tags(conn, 1) == set()
        assert {face(conn, i)[0] for i in ids} == {"rejected"}


# --- configuration per model ---------------------------------------------------------------------


def test_config_per_model_defaults_and_overrides(db):
    with psycopg.connect(db) as conn:
        sc = RecognitionConfig.load(conn, model="buffalo_sc")
        assert (sc.match_threshold, sc.auto_tag_threshold) == (
            MODEL_DEFAULTS["buffalo_sc"]["match_threshold"],
            MODEL_DEFAULTS["buffalo_sc"]["auto_tag_threshold"],
        )
        assert sc.frames_per_video == 5 and sc.model == "buffalo_sc"
        assert RecognitionConfig.load(conn, model="/models/buffalo_l").model == "buffalo_l"
        assert (
            RecognitionConfig.load(conn, model="something_else").match_threshold
            == MODEL_DEFAULTS["buffalo_l"]["match_threshold"]
        )
        assert RecognitionConfig.load(conn).model == "buffalo_sc"  # FACE_ASSETS_MODEL in the tests

        conn.execute("UPDATE face_recognition_config SET value = '0.8' WHERE key = 'auto_tag_threshold'")
        assert RecognitionConfig.load(conn, model="buffalo_sc").auto_tag_threshold == 0.8  # a user's choice
        conn.execute("INSERT INTO face_recognition_config (key, value) VALUES ('buffalo_sc.auto_tag_threshold', '0.7')")
        assert RecognitionConfig.load(conn, model="buffalo_sc").auto_tag_threshold == 0.7  # per model wins
        assert RecognitionConfig.load(conn, model="buffalo_l").auto_tag_threshold == 0.8


def test_schema_seeds_are_known():
    """RecognitionConfig tells seeded placeholders from a user's values: SCHEMA_SEEDS must match the schema."""
    block = re.search(r"INSERT INTO face_recognition_config .*?ON CONFLICT", read_sql("face/schema.sql"), re.S).group(0)
    seeded = dict(re.findall(r"\('(\w+)', '([^']*)'\)", block))
    assert seeded == SCHEMA_SEEDS


# --- measuring -----------------------------------------------------------------------------------


def test_same_different_similarities(rng):
    c = unit(rng, 3)
    faces = np.stack([at_similarity(rng, c[0], 0.7), at_similarity(rng, c[0], 0.6), at_similarity(rng, c[1], 0.5)])
    samples = same_different_similarities([1, 1, 2], faces, [1, 2, 3], c, {1: [1], 2: [2]})
    assert sorted(np.round(samples.same, 2)) == [0.5, 0.6, 0.7]
    assert samples.different.size == 2 * 2 + 1 * 2 and samples.different.max() < 0.3
    assert sorted(np.round(samples.same_best, 2)) == [0.5, 0.7]
    assert samples.stats()["same"]["n"] == 3


# --- the fixture library, end to end -------------------------------------------------------------

# Two-creator slideshows, a creator with an unknown person, unknown people only, a real clip (~5 s of CPU each).
E2E_VIDEOS = [
    "videos/slideshow_02.mp4",
    "videos/slideshow_03.mp4",
    "videos/slideshow_04.mp4",
    "videos/slideshow_05.mp4",
    "videos/hamilton_short.mp4",
]


@pytest.mark.slow
def test_fixture_library_every_auto_tag_is_right(migrated_db, dagster_instance, truth, tmp_path, monkeypatch):
    pytest.importorskip("face_assets.defs.faces.assets")
    from dagster import materialize

    from face_assets.defs.faces.assets import creator_embeddings, face_detections, face_matches
    from face_assets.defs.faces.resources import FaceEngineResource
    from face_assets.defs.library.assets import sampled_frames
    from face_assets.defs.resources import PostgresResource
    from face_assets.recognition.matching import fixture_similarities

    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path / "home"))
    url = migrated_db
    resources = {"database": PostgresResource(url=url), "face_engine": FaceEngineResource()}
    keys = [str(truth["legacy_video_ids"][v]) for v in E2E_VIDEOS]
    dagster_instance.add_dynamic_partitions("videos", keys)
    assert materialize([creator_embeddings], instance=dagster_instance, resources=resources).success
    range_tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    result = materialize(
        [sampled_frames, face_detections, face_matches], instance=dagster_instance, resources=resources, tags=range_tags
    )
    assert result.success

    with psycopg.connect(url) as conn:
        names = dict(conn.execute("SELECT id, name FROM creators"))
        auto = conn.execute(
            "SELECT video_id, creator_id, confidence FROM video_creators"
            " WHERE source = 'face_recognition' AND video_id = ANY(%s)",
            ([int(k) for k in keys],),
        ).fetchall()
        matched = conn.execute(
            "SELECT video_id, matched_creator_id FROM video_face_detections WHERE match_status = 'matched'"
            " AND video_id = ANY(%s)",
            ([int(k) for k in keys],),
        ).fetchall()
    by_id = {str(v): path for path, v in truth["legacy_video_ids"].items()}
    wrong = [
        (by_id[str(v)], names[c]) for v, c, _ in auto if names[c] not in truth["videos"][by_id[str(v)]]["creators"]
    ]
    assert not wrong, f"auto-tags not in truth.json: {wrong}"
    assert {(by_id[str(v)], names[c]) for v, c in matched} <= {
        (p, n) for p in E2E_VIDEOS for n in truth["videos"][p]["creators"]
    }
    # The clear cases are found: both creators of slideshow_02/03, Gerhard Schroeder, Lin-Manuel Miranda.
    assert len(auto) >= 5, auto

    with connect(url) as conn:
        stats = fixture_similarities(conn, truth, min_face_size=64).stats()
    assert stats["different"]["max"] < MODEL_DEFAULTS["buffalo_sc"]["match_threshold"]
    assert stats["same_best"]["min"] >= MODEL_DEFAULTS["buffalo_sc"]["auto_tag_threshold"]
    print(json.dumps(stats))
