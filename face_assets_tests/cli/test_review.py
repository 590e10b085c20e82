"""`face-assets review ...` on real PostgreSQL: decisions change the rows as specified and spread at once.

Synthetic unit vectors of chosen similarities (face_assets.recognition.config: buffalo_sc thresholds, match 0.30,
auto-tag 0.45 in two frames or 0.55 in one) in the migrated fixture database; commands run through
face_assets.cli.main with DATABASE_URL set, as a person would run them.
"""

import numpy as np
import psycopg
import pytest

from face_assets.cli.main import main
from face_assets.recognition.clustering import ClusteringConfig, cluster_faces
from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.matching import match_detections
from face_assets_tests.query_plans import sorts_by_distance

DIM = 512
CLUSTERING = ClusteringConfig(similarity=0.40, min_faces=1, workers=1)


def connect(url: str) -> psycopg.Connection:
    from face_assets.db.connection import register_vector

    conn = psycopg.connect(url)
    register_vector(conn)
    return conn


def vector_with(rng: np.random.Generator, *targets: tuple[np.ndarray, float]) -> np.ndarray:
    """A unit vector with the given cosine similarity to each (unit) target vector, random otherwise."""
    t = np.stack([v for v, _ in targets]).astype(np.float64)
    q, r = np.linalg.qr(t.T)  # t = r.T @ q.T
    c = np.linalg.solve(r.T, np.array([s for _, s in targets]))
    rest = 1.0 - float(c @ c)
    assert rest > 0, "impossible similarities"
    noise = rng.standard_normal(DIM)
    noise -= q @ (q.T @ noise)
    return (q @ c + np.sqrt(rest) * noise / np.linalg.norm(noise)).astype(np.float32)


def random_unit(rng) -> np.ndarray:
    v = rng.standard_normal(DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def add_face(conn, video_id: int, frame_index: int, vector, *, status="pending", score=0.8) -> int:
    return conn.execute(
        "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
        " bbox_width, bbox_height, quality_score, match_status, crop_path)"
        " VALUES (%s, %s, %s, %s, 0, 0, 120, 120, %s, %s, %s) RETURNING id",
        (
            video_id,
            float(frame_index),
            frame_index,
            np.asarray(vector, np.float32),
            score,
            status,
            f"/crops/{video_id}/{frame_index}.jpg",
        ),
    ).fetchone()[0]


def add_embedding(conn, creator_id: int, vector) -> None:
    conn.execute(
        "INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path)"
        " VALUES (%s, %s, 'profile_picture', %s)",
        (creator_id, np.asarray(vector, np.float32), f"/pictures/{creator_id}.jpg"),
    )


def face(conn, detection_id: int) -> tuple:
    """(status, creator, decided?)"""
    return conn.execute(
        "SELECT match_status, matched_creator_id, decided_at IS NOT NULL FROM video_face_detections WHERE id = %s",
        (detection_id,),
    ).fetchone()


def tag(conn, video_id: int, creator_id: int):
    row = conn.execute(
        "SELECT source FROM video_creators WHERE video_id = %s AND creator_id = %s", (video_id, creator_id)
    ).fetchone()
    return row[0] if row else None


def embeddings_from(conn, detection_id: int) -> list[int]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT creator_id FROM creator_face_embeddings WHERE source_type = 'video_frame' AND source_path = %s",
            (f"detection:{detection_id}",),
        )
    ]


def rematch(url: str, **kwargs) -> None:
    with connect(url) as conn:
        match_detections(conn, RecognitionConfig.load(conn), **kwargs)
        conn.commit()


@pytest.fixture(scope="module")
def ids(truth) -> dict:
    videos = truth["legacy_video_ids"]
    creators = truth["legacy_creator_ids"]
    return {
        "v": [videos[f"videos/slideshow_0{i}.mp4"] for i in range(1, 7)],
        "powell": creators["Colin Powell"],
        "chavez": creators["Hugo Chavez"],
        "bush": creators["George W Bush"],
    }


@pytest.fixture
def db(module_migrated_db, monkeypatch):
    """The migrated fixture database with no faces, clusters, embeddings or face tags; DATABASE_URL points at it."""
    with psycopg.connect(module_migrated_db) as conn:
        conn.execute("TRUNCATE video_face_detections, face_clusters, creator_face_embeddings CASCADE")
        conn.execute("DELETE FROM video_creators WHERE source <> 'legacy'")
        conn.execute("DELETE FROM creators WHERE name LIKE 'Unknown %%'")
    monkeypatch.setenv("DATABASE_URL", module_migrated_db)
    # prepare() exports these for the Dagster instance; restore them after the test.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("FACE_ASSETS_DAGSTER_DATABASE_URL", raising=False)
    return module_migrated_db


@pytest.fixture
def rng():
    return np.random.default_rng(21)


def review(capsys, *args) -> tuple[int, str]:
    code = main(["review", *map(str, args)])
    return code, capsys.readouterr().out


# --- matches ------------------------------------------------------------------------------------------------------------


def test_pending_lists_matches_for_review(db, ids, rng, capsys):
    with connect(db) as conn:
        powell = random_unit(rng)
        add_embedding(conn, ids["powell"], powell)
        # 0.31: a proposal, short of an auto-tag (one face, LLR ~4.3 under buffalo_sc's calibration; the target with
        # one creator is ln(1 / 0.01) = 4.6: the fusion rule, face_assets_tests/recognition/test_evidence.py)
        f = add_face(conn, ids["v"][0], 1, vector_with(rng, (powell, 0.31)))
        add_face(conn, ids["v"][0], 2, random_unit(rng))  # unmatched: not listed
        conn.commit()
    rematch(db)
    code, out = review(capsys, "pending")
    assert code == 0
    line = next(line for line in out.splitlines() if line.strip().startswith(str(f)))
    for part in (
        str(ids["v"][0]),
        "slideshow_01",
        str(ids["powell"]),
        "Colin Powell",
        "0.31",
        f"/crops/{ids['v'][0]}/1.jpg",
    ):
        assert part in line, (part, line)
    assert "1 pending match(es)" in out


def test_confirm_makes_a_known_face_tags_the_video_and_spreads(db, ids, rng, capsys):
    v1, v2 = ids["v"][0], ids["v"][1]
    with connect(db) as conn:
        powell = random_unit(rng)
        add_embedding(conn, ids["powell"], powell)
        confirmed = add_face(conn, v1, 1, vector_with(rng, (powell, 0.31)))  # a proposal (see above)
        probe = conn.execute("SELECT embedding FROM video_face_detections WHERE id = %s", (confirmed,)).fetchone()[0]
        probe = np.asarray(probe.to_numpy(), np.float32)
        # The same person in another video, in two frames: too far from the profile picture to be proposed...
        others = [add_face(conn, v2, k, vector_with(rng, (powell, 0.1), (probe, 0.8))) for k in (1, 2)]
        conn.commit()
    rematch(db)
    with connect(db) as conn:
        assert face(conn, confirmed) == ("pending", ids["powell"], False)
        assert [face(conn, o)[0] for o in others] == ["unmatched", "unmatched"]
        assert tag(conn, v2, ids["powell"]) is None

    code, out = review(capsys, "confirm", confirmed)
    assert code == 0, out
    with connect(db) as conn:
        assert face(conn, confirmed) == ("manual", ids["powell"], True)
        assert embeddings_from(conn, confirmed) == [ids["powell"]]
        assert tag(conn, v1, ids["powell"]) == "manual"
        # ...but close to the confirmed face: matched at once, and their video auto-tagged.
        assert [face(conn, o)[:2] for o in others] == [("matched", ids["powell"])] * 2
        assert tag(conn, v2, ids["powell"]) == "face_recognition"
    assert f"confirmed face {confirmed}" in out
    assert f"face {others[0]} in video {v2}" in out and "unmatched -> matched 'Colin Powell'" in out
    assert "tagged (face_recognition" in out

    # Confirming needs a proposed creator; errors change nothing.
    code, out = review(capsys, "confirm", others[0], 999999999)
    assert code == 2 and "no face detection with id 999999999" in out


def test_reject_is_never_proposed_again_and_revokes_a_confirmation(db, ids, rng, capsys):
    v1 = ids["v"][2]
    with connect(db) as conn:
        powell, chavez = random_unit(rng), random_unit(rng)
        add_embedding(conn, ids["powell"], powell)
        add_embedding(conn, ids["chavez"], chavez)
        # Powell at 0.36 with Chavez close behind (0.32): two frames of ~3.3 nats each fuse to ~4.4, short of
        # ln(2 / 0.01) = 5.3; Chavez alone at 0.32 (~4.7 in one frame) is short of it too.
        wrong = add_face(conn, v1, 1, vector_with(rng, (powell, 0.36), (chavez, 0.32)))
        second = add_face(conn, v1, 2, vector_with(rng, (powell, 0.36), (chavez, 0.32)))
        conn.commit()
    rematch(db)
    with connect(db) as conn:
        assert face(conn, wrong)[:2] == ("pending", ids["powell"])

    code, out = review(capsys, "reject", wrong)
    assert code == 0, out
    assert f"rejected 'Colin Powell' ({ids['powell']}) for face {wrong}" in out
    with connect(db) as conn:
        assert face(conn, wrong) == ("rejected", ids["powell"], True)  # the rejected creator is kept on the row
        assert (
            conn.execute(
                "SELECT count(*) FROM face_match_rejections WHERE detection_id = %s AND creator_id = %s",
                (wrong, ids["powell"]),
            ).fetchone()[0]
            == 1
        )
    rematch(db)  # matching everything again: the decision stands
    with connect(db) as conn:
        assert face(conn, wrong) == ("rejected", ids["powell"], True)

    # Reopened for the next-best creator: never Powell again for this face.
    code, out = review(capsys, "reject", "--repropose", second)
    assert code == 0, out
    with connect(db) as conn:
        assert face(conn, second) == ("pending", ids["chavez"], False)
    rematch(db)
    with connect(db) as conn:
        assert face(conn, second)[:2] == ("pending", ids["chavez"])

    # Rejecting a confirmed face revokes the confirmation: its embedding and the manual tag it backed go.
    code, out = review(capsys, "confirm", second)
    with connect(db) as conn:
        assert embeddings_from(conn, second) == [ids["chavez"]] and tag(conn, v1, ids["chavez"]) == "manual"
    code, out = review(capsys, "reject", second)
    assert code == 0, out
    with connect(db) as conn:
        assert face(conn, second) == ("rejected", ids["chavez"], True)
        assert embeddings_from(conn, second) == [] and tag(conn, v1, ids["chavez"]) is None


def test_assign_by_id_or_name(db, ids, rng, capsys):
    v1 = ids["v"][3]
    with connect(db) as conn:
        f1 = add_face(conn, v1, 1, random_unit(rng), status="unmatched")
        f2 = add_face(conn, v1, 2, random_unit(rng), status="unmatched")
        twins = conn.execute("SELECT min(name) FROM creators GROUP BY lower(name) HAVING count(*) > 1").fetchone()[0]
        conn.commit()
    code, out = review(capsys, "assign", f1, "George W Bush")
    assert code == 0, out
    with connect(db) as conn:
        assert face(conn, f1) == ("manual", ids["bush"], True)
        assert embeddings_from(conn, f1) == [ids["bush"]] and tag(conn, v1, ids["bush"]) == "manual"

    # Re-assigning moves the embedding; names differing only by case need the id.
    code, out = review(capsys, "assign", f1, ids["powell"])
    assert code == 0, out
    with connect(db) as conn:
        assert face(conn, f1) == ("manual", ids["powell"], True)
        assert embeddings_from(conn, f1) == [ids["powell"]]
        assert tag(conn, v1, ids["bush"]) is None and tag(conn, v1, ids["powell"]) == "manual"
    code, out = review(capsys, "assign", f2, twins.upper())
    assert code == 2 and "names several creators" in out
    code, out = review(capsys, "assign", f2, "Nobody At All")
    assert code == 2 and "no creator named" in out
    with connect(db) as conn:
        assert face(conn, f2) == ("unmatched", None, False)


# --- clusters -----------------------------------------------------------------------------------------------------------


def _unknown_person(conn, rng, video_ids, n, centre=None, status="unmatched", score=0.8, start=100) -> list[int]:
    centre = random_unit(rng) if centre is None else centre
    return [
        add_face(
            conn, video_ids[k % len(video_ids)], start + k, vector_with(rng, (centre, 0.8)), status=status, score=score
        )
        for k in range(n)
    ]


def _cluster(url: str) -> None:
    with connect(url) as conn:
        cluster_faces(conn, CLUSTERING)
        conn.commit()


def _cluster_of(conn, detection_id: int) -> int:
    return conn.execute("SELECT cluster_id FROM video_face_detections WHERE id = %s", (detection_id,)).fetchone()[0]


def test_cluster_name_creates_a_creator_tags_its_videos_and_spreads(db, ids, rng, capsys):
    videos = ids["v"][:3]
    with connect(db) as conn:
        centre = random_unit(rng)
        faces = _unknown_person(conn, rng, videos, 6, centre)
        gated = _unknown_person(conn, rng, [ids["v"][4]], 2, centre, score=0.3, start=300)  # too weak to cluster
        conn.commit()
    _cluster(db)
    with connect(db) as conn:
        cluster = _cluster_of(conn, faces[0])
        assert cluster and all(_cluster_of(conn, f) == cluster for f in faces)
        assert all(_cluster_of(conn, f) is None for f in gated)

    code, out = review(capsys, "clusters")
    assert code == 0 and str(cluster) in out and "/crops/" in out

    code, out = review(capsys, "cluster", "name", cluster, "Unknown Tony")
    assert code == 0, out
    with connect(db) as conn:
        creator = conn.execute("SELECT id FROM creators WHERE name = 'Unknown Tony'").fetchone()[0]
        assert conn.execute(
            "SELECT status, creator_id, size FROM face_clusters WHERE id = %s", (cluster,)
        ).fetchone() == ("named", creator, 6)
        assert {face(conn, f) for f in faces} == {("manual", creator, True)}
        assert sorted(c for f in faces for c in embeddings_from(conn, f)) == [creator] * 6
        assert {tag(conn, v, creator) for v in videos} == {"manual"}
        # The faces that were too weak to cluster are the same person: matched at once, their video auto-tagged.
        assert {face(conn, f)[:2] for f in gated} == {("matched", creator)}
        assert tag(conn, ids["v"][4], creator) == "face_recognition"
    assert "created creator 'Unknown Tony'" in out and "tagged (face_recognition" in out

    # Afterwards a new face of that person is matched to the new creator; clustering leaves the named cluster alone.
    with connect(db) as conn:
        later = add_face(conn, ids["v"][5], 500, vector_with(rng, (centre, 0.8)))
        conn.commit()
    rematch(db, video_ids=[ids["v"][5]])
    _cluster(db)
    with connect(db) as conn:
        assert face(conn, later)[1] == creator
        assert conn.execute("SELECT status, size FROM face_clusters WHERE id = %s", (cluster,)).fetchone() == (
            "named",
            6,
        )
        assert all(_cluster_of(conn, f) == cluster for f in faces)

    # Errors: a named cluster cannot be named again; an existing name needs --existing.
    code, out = review(capsys, "cluster", "name", cluster, "Someone")
    assert code == 2 and "named already" in out
    with connect(db) as conn:
        other = _unknown_person(conn, rng, videos, 4, start=600)
        conn.commit()
    _cluster(db)
    with connect(db) as conn:
        second = _cluster_of(conn, other[0])
    code, out = review(capsys, "cluster", "name", second, "Colin Powell")
    assert code == 2 and "--existing" in out
    code, out = review(capsys, "cluster", "name", second, "Colin Powell", "--existing")
    assert code == 0, out
    with connect(db) as conn:
        assert {face(conn, f)[:2] for f in other} == {("manual", ids["powell"])}


def test_cluster_merge_moves_faces_and_is_kept_by_clustering(db, ids, rng, capsys):
    videos = ids["v"][:4]
    with connect(db) as conn:
        # One person, two looks (similarity 0.3 between them: below cluster_similarity): two clusters.
        look_a = random_unit(rng)
        look_b = vector_with(rng, (look_a, 0.3))
        a = _unknown_person(conn, rng, videos[:2], 5, look_a)
        b = _unknown_person(conn, rng, videos[2:], 4, look_b, start=200)
        conn.commit()
    _cluster(db)
    with connect(db) as conn:
        ca, cb = _cluster_of(conn, a[0]), _cluster_of(conn, b[0])
        assert ca and cb and ca != cb

    code, out = review(capsys, "cluster", "merge", ca, cb)
    assert code == 0, out
    with connect(db) as conn:
        assert conn.execute("SELECT status, size, n_videos FROM face_clusters WHERE id = %s", (ca,)).fetchone() == (
            "open",
            9,
            4,
        )
        assert conn.execute("SELECT status, merged_into, size FROM face_clusters WHERE id = %s", (cb,)).fetchone() == (
            "merged",
            ca,
            0,
        )
        assert {_cluster_of(conn, f) for f in a + b} == {ca}
    assert f"merged cluster {cb} into cluster {ca}: 4 face(s) moved" in out

    # Clustering again keeps the person's faces together in cluster A (a person said they are one).
    _cluster(db)
    with connect(db) as conn:
        assert {_cluster_of(conn, f) for f in a + b} == {ca}
        assert conn.execute("SELECT status FROM face_clusters WHERE id = %s", (cb,)).fetchone()[0] == "merged"
    code, out = review(capsys, "cluster", "merge", cb, ca)
    assert code == 2 and f"merged into cluster {ca}" in out

    # Merging into a named cluster confirms the faces as its creator.
    code, out = review(capsys, "cluster", "name", ca, "Unknown Two Looks")
    with connect(db) as conn:
        creator = conn.execute("SELECT id FROM creators WHERE name = 'Unknown Two Looks'").fetchone()[0]
        more = _unknown_person(conn, rng, [ids["v"][5]], 3, look_a, start=700)
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'unmatched', matched_creator_id = NULL,"
            " match_confidence = NULL WHERE id = ANY(%s)",
            (more,),
        )  # as if matched before the naming
        conn.commit()
    _cluster(db)
    with connect(db) as conn:
        cc = _cluster_of(conn, more[0])
        assert cc and cc not in (ca, cb)
    code, out = review(capsys, "cluster", "merge", ca, cc)
    assert code == 0, out
    with connect(db) as conn:
        assert {face(conn, f)[:2] for f in more} == {("manual", creator)}
        assert tag(conn, ids["v"][5], creator) == "manual"
        assert conn.execute("SELECT size FROM face_clusters WHERE id = %s", (ca,)).fetchone()[0] == 12

    code, out = review(capsys, "clusters", "--status", "all")
    assert code == 0 and "merged" in out and "named" in out and "Unknown Two Looks" in out


def test_faces_near_a_decision_are_found_through_the_hnsw_index(db, ids, rng):
    from face_assets.db.sql_files import read_sql

    with connect(db) as conn:
        faces = [add_face(conn, ids["v"][0], k, random_unit(rng)) for k in range(50)]
        conn.execute("SET LOCAL enable_seqscan = off")  # 50 rows: show the plan the planner picks on big tables
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN " + read_sql("review/faces_near.sql"), {"ids": faces[:3], "k": 100, "similarity": 0.3}
            )
        )
        assert "Index Scan using idx_video_faces_embedding on video_face_detections d" in plan, plan
        assert not sorts_by_distance(plan), plan
        conn.rollback()
