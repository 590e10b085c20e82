"""Clustering of unknown faces on real PostgreSQL + pgvector, with synthetic unit vectors (identities = centres +
small noise, plus noise faces) in video_face_detections rows of the migrated fixture database."""

import time
from dataclasses import replace

import numpy as np
import psycopg
import pytest

from face_assets.db.sql_files import read_sql
from face_assets.recognition.clustering import (
    ClusteringConfig,
    carry_over_ids,
    cluster_faces,
    density_clusters,
)
from face_assets_tests.query_plans import sorts_by_distance

DIM = 512
CONFIG = ClusteringConfig(
    similarity=0.40, min_faces=1, neighbours=10, min_face_size=64, min_score=0.6, min_relative_sharpness=0.25, workers=1
)


# --- helpers -----------------------------------------------------------------------------------------------------------


def unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def identity_samples(rng: np.random.Generator, centre: np.ndarray, n: int, spread=(0.5, 0.85)) -> np.ndarray:
    """`n` faces of one person: the centre plus noise (pairwise cosine similarity ~0.55-0.8)."""
    s = rng.uniform(*spread, size=(n, 1))
    return unit_rows(centre + s * unit_rows(rng.standard_normal((n, DIM))))


def connect(url: str) -> psycopg.Connection:
    from face_assets.db.connection import register_vector

    conn = psycopg.connect(url)
    register_vector(conn)
    return conn


class Library:
    """Inserts synthetic faces into video_face_detections; remembers who each face is (None: noise)."""

    def __init__(self, conn: psycopg.Connection, video_ids: list[int], seed: int = 7):
        self.conn, self.video_ids = conn, video_ids
        self.rng = np.random.default_rng(seed)
        self.truth: dict[int, object] = {}
        self.centres: dict[object, np.ndarray] = {}
        self.frame = 0

    def centre(self, who) -> np.ndarray:
        if who not in self.centres:
            self.centres[who] = unit_rows(self.rng.standard_normal(DIM))
        return self.centres[who]

    def add(
        self, who, n: int, *, status="unmatched", size=100.0, score=0.8, video_ids=None, frame_index=None
    ) -> list[int]:
        vectors = (
            identity_samples(self.rng, self.centre(who), n)
            if who is not None
            else unit_rows(self.rng.standard_normal((n, DIM)))
        )
        ids = []
        for k, vector in enumerate(vectors):
            videos = video_ids or self.video_ids
            video = videos[(self.frame + k) % len(videos)]
            self.frame += 1
            ids.append(
                self.conn.execute(
                    "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
                    " bbox_width, bbox_height, quality_score, match_status, crop_path)"
                    " VALUES (%s, %s, %s, %s, 0, 0, %s, %s, %s, %s, %s) RETURNING id",
                    (
                        video,
                        float(self.frame),
                        self.frame if frame_index is None else frame_index,
                        vector,
                        size,
                        size,
                        score,
                        status,
                        f"/crops/{video}/{self.frame}.jpg",
                    ),
                ).fetchone()[0]
            )
        for i in ids:
            self.truth[i] = who
        self.conn.commit()
        return ids


def clusters_of(conn) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for face_id, cluster_id in conn.execute(
        "SELECT id, cluster_id FROM video_face_detections WHERE cluster_id IS NOT NULL"
    ):
        out.setdefault(cluster_id, set()).add(face_id)
    return out


def run(url: str, config: ClusteringConfig = CONFIG, full: bool = False):
    with connect(url) as conn:
        result = cluster_faces(conn, config, full=full)
        conn.commit()
    return result


# --- the algorithm on plain ids ----------------------------------------------------------------------------------------


def test_density_clusters_core_border_noise_and_links():
    # 1-2-3 are core (2 neighbours each with min_faces=2), 4 is a border of 3, 5 a border of 4 only (not core: no
    # cluster), 6-7 a pair (not core with min_faces=2), 8 alone.
    edges = [
        (1, 2, 0.9),
        (1, 3, 0.8),
        (2, 1, 0.9),
        (2, 3, 0.7),
        (3, 1, 0.8),
        (3, 2, 0.7),
        (3, 4, 0.6),
        (4, 5, 0.6),
        (5, 4, 0.6),
        (6, 7, 0.9),
        (7, 6, 0.9),
    ]
    assert density_clusters(range(1, 9), edges, min_faces=2) == [[1, 2, 3, 4]]
    # With min_faces=1 every face with a neighbour is core: components.
    assert density_clusters(range(1, 9), edges, min_faces=1) == [[1, 2, 3, 4, 5], [6, 7]]
    # A border face touching two clusters joins the most similar core neighbour only (never bridges).
    edges2 = [(1, 2, 0.9), (2, 1, 0.9), (1, 9, 0.5), (3, 4, 0.9), (4, 3, 0.9), (4, 9, 0.7)]
    assert density_clusters([1, 2, 3, 4, 9], edges2, min_faces=1) == [[1, 2], [3, 4, 9]]
    assert density_clusters([1, 2, 3, 4, 9], edges2, min_faces=2) == [[1, 2], [3, 4, 9]]  # 1, 4 core; 2, 3, 9 border
    assert density_clusters([1, 2, 3, 4, 9], edges2, min_faces=3) == []
    # Links (a person merged clusters) keep faces together, even across components.
    assert density_clusters(range(1, 9), edges, min_faces=2, links={1: 100, 6: 100, 7: 100}) == [[1, 2, 3, 4, 6, 7]]
    # Edges to faces that are not candidates are ignored.
    assert density_clusters([1, 2], [(1, 2, 0.9), (1, 50, 0.9), (50, 2, 0.9)], min_faces=2) == []


def _clusters_by_definition(ids, edges, min_faces, links=None):
    """density_clusters' docstring, written the slow and obvious way (sets and a flood fill), as an oracle."""
    ids = set(ids)
    out: dict[int, dict[int, float]] = {a: {} for a in ids}
    for a, b, sim in edges:
        if a != b and a in ids and b in ids:
            out[a][b] = max(sim, out[a].get(b, sim))
    core = {a for a in ids if min_faces <= 0 or len(out[a]) >= min_faces}
    adjacent: dict[int, set[int]] = {a: set() for a in ids}
    for a in core:
        for b in out[a]:
            if b in core:
                adjacent[a].add(b)
                adjacent[b].add(a)
    members = set(core)
    for x in ids - core:
        options = [(out[c][x], -c) for c in core if x in out[c]] + [(sim, -c) for c, sim in out[x].items() if c in core]
        if options:
            c = -max(options)[1]
            adjacent[x].add(c)
            adjacent[c].add(x)
            members.add(x)
    groups: dict[int, list[int]] = {}
    for face, group in (links or {}).items():
        if face in ids:
            groups.setdefault(group, []).append(face)
    for faces in groups.values():
        if len(faces) > 1:
            members.update(faces)
            for other in faces[1:]:
                adjacent[faces[0]].add(other)
                adjacent[other].add(faces[0])
    seen: set[int] = set()
    clusters = []
    for start in sorted(members):
        if start not in seen:
            seen.add(start)
            stack, component = [start], []
            while stack:
                face = stack.pop()
                component.append(face)
                for nxt in adjacent[face]:
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)
            if len(component) >= 2:
                clusters.append(sorted(component))
    return sorted(clusters)


def test_density_clusters_agrees_with_its_definition_on_random_graphs():
    rng = np.random.default_rng(11)
    for _ in range(400):
        ids = rng.choice(np.arange(1, 120), size=int(rng.integers(0, 40)), replace=False).tolist()
        pool = ids + rng.integers(1, 150, 3).tolist()  # some edges reach faces that are not candidates
        edges = [
            (int(rng.choice(pool)), int(rng.choice(pool)), float(rng.choice([0.5, 0.6, rng.random()])))
            for _ in range(int(rng.integers(0, 80)))
        ]
        links = {int(rng.choice(pool)): int(rng.integers(1, 4)) for _ in range(int(rng.integers(0, 5)))}
        min_faces = int(rng.integers(-1, 4))
        assert density_clusters(ids, edges, min_faces, links) == _clusters_by_definition(ids, edges, min_faces, links)


def test_carry_over_ids_greedy_majority_overlap():
    old = {1: 10, 2: 10, 3: 10, 4: 11, 5: 11, 6: 12, 7: None}
    # [1,2,3,4] shares 3 faces with 10 and 1 with 11; [5,6] shares 1 with 11 and 1 with 12; [7,8] nothing.
    assert carry_over_ids([[1, 2, 3, 4], [5, 6], [7, 8]], old) == [10, 11, None]
    # A cluster split in two: the bigger part keeps the id, the smaller gets a new one.
    assert carry_over_ids([[1], [2, 3]], {1: 10, 2: 10, 3: 10}) == [None, 10]
    # Two clusters merged: the merged one keeps the id it overlaps most; the other old id has no successor.
    assert carry_over_ids([[1, 2, 3, 4, 5]], {1: 10, 2: 10, 3: 11, 4: 11, 5: 11}) == [11]


# --- on PostgreSQL -----------------------------------------------------------------------------------------------------


def test_clusters_recover_identities_and_leave_noise_unclustered(db, video_ids):
    with connect(db) as conn:
        lib = Library(conn, video_ids)
        for person in range(6):
            lib.add(f"person {person}", 8 + person)
        lib.add(None, 40)
        # Faces that already have a creator (or a proposal) are not clustered, however alike they are.
        creator = conn.execute("SELECT min(id) FROM creators").fetchone()[0]
        known = lib.add("known", 6, status="matched")
        conn.execute("UPDATE video_face_detections SET matched_creator_id = %s WHERE id = ANY(%s)", (creator, known))
        conn.commit()

    result = run(db)
    assert result.unknown_faces == len(lib.truth) - len(known)
    assert result.clusters == 6 and result.new_ids and not result.kept_ids

    with connect(db) as conn:
        clusters = clusters_of(conn)
        assert len(clusters) == 6
        people = {frozenset(lib.truth[f] for f in faces) for faces in clusters.values()}
        assert all(len(p) == 1 for p in people), "a cluster mixes people or holds noise"
        assert {next(iter(p)) for p in people} == {f"person {i}" for i in range(6)}
        for cluster_id, faces in clusters.items():
            who = lib.truth[next(iter(faces))]
            assert faces == {f for f, w in lib.truth.items() if w == who}, f"{who} is split or incomplete"
            size, n_videos, rep, status = conn.execute(
                "SELECT size, n_videos, representative_detection_id, status FROM face_clusters WHERE id = %s",
                (cluster_id,),
            ).fetchone()
            assert (size, status) == (len(faces), "open")
            assert n_videos == len(
                {
                    r[0]
                    for r in conn.execute(
                        "SELECT video_id FROM video_face_detections WHERE id = ANY(%s)", (list(faces),)
                    )
                }
            )
            assert rep in faces
        noise = [f for f, w in lib.truth.items() if w is None or w == "known"]
        assert (
            conn.execute(
                "SELECT count(*) FROM video_face_detections WHERE id = ANY(%s) AND cluster_id IS NOT NULL", (noise,)
            ).fetchone()[0]
            == 0
        )


def test_representative_is_the_best_face_near_the_centroid(db, video_ids):
    with connect(db) as conn:
        lib = Library(conn, video_ids)
        ids = lib.add("p", 12)
        best = ids[5]
        conn.execute("UPDATE video_face_detections SET quality_score = 0.99 WHERE id = %s", (best,))
        # Make `best` the face closest to the centroid too.
        conn.execute("UPDATE video_face_detections SET embedding = %s WHERE id = %s", (lib.centre("p"), best))
        conn.commit()
    run(db)
    with connect(db) as conn:
        assert conn.execute("SELECT representative_detection_id FROM face_clusters").fetchone()[0] == best


def test_ids_stay_stable_when_faces_are_added_and_dissolved_ids_are_not_reused(db, video_ids):
    with connect(db) as conn:
        lib = Library(conn, video_ids)
        for person in "abcd":
            lib.add(person, 10)
        lib.add(None, 20)
    first = run(db)
    with connect(db) as conn:
        before = {lib.truth[next(iter(f))]: cid for cid, f in clusters_of(conn).items()}
        updated = dict(conn.execute("SELECT id, updated_at FROM face_clusters").fetchall())
    assert set(before) == set("abcd")

    # Unchanged input: same clusters, nothing written.
    again = run(db)
    assert sorted(again.kept_ids) == sorted(first.new_ids) and again.new_ids == [] and again.faces_moved == 0
    with connect(db) as conn:
        assert dict(conn.execute("SELECT id, updated_at FROM face_clusters").fetchall()) == updated

    # A few faces more for a, b and c, a new person e, more noise; d's faces get a creator (no longer unknown).
    with connect(db) as conn:
        lib.conn = conn
        for person in "abc":
            lib.add(person, 2)
        lib.add("e", 5)
        lib.add(None, 5)
        creator = conn.execute("SELECT min(id) FROM creators").fetchone()[0]
        d_faces = [f for f, w in lib.truth.items() if w == "d"]
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'matched', matched_creator_id = %s WHERE id = ANY(%s)",
            (creator, d_faces),
        )
        conn.commit()
    result = run(db)
    with connect(db) as conn:
        after = {lib.truth[next(iter(f))]: cid for cid, f in clusters_of(conn).items()}
        assert {p: after[p] for p in "abc"} == {p: before[p] for p in "abc"}
        assert after["e"] not in before.values() and after["e"] > max(before.values())
        assert result.dissolved_ids == [before["d"]]
        assert conn.execute(
            "SELECT status, size, n_videos FROM face_clusters WHERE id = %s", (before["d"],)
        ).fetchone() == ("dissolved", 0, 0)
        assert (
            conn.execute("SELECT count(*) FROM video_face_detections WHERE cluster_id = %s", (before["d"],)).fetchone()[
                0
            ]
            == 0
        )
        for person in "abc":
            assert conn.execute("SELECT size FROM face_clusters WHERE id = %s", (after[person],)).fetchone()[0] == 12

    # d's faces are unknown again: d gets a NEW id (the dissolved one is never revived or reused).
    with connect(db) as conn:
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'unmatched', matched_creator_id = NULL WHERE id = ANY(%s)",
            (d_faces,),
        )
        conn.commit()
    run(db)
    with connect(db) as conn:
        final = {lib.truth[next(iter(f))]: cid for cid, f in clusters_of(conn).items()}
        assert final["d"] not in (before["d"], *after.values())


def test_named_and_merged_clusters_are_never_touched(db, video_ids):
    with connect(db) as conn:
        lib = Library(conn, video_ids)
        for person in "ab":
            lib.add(person, 8)
    run(db)
    with connect(db) as conn:
        lib.conn = conn
        ids = {lib.truth[next(iter(f))]: cid for cid, f in clusters_of(conn).items()}
        creator = conn.execute("INSERT INTO creators (name) VALUES ('Person A') RETURNING id").fetchone()[0]
        # As `review cluster name` leaves it: faces 'manual' for the creator, cluster 'named'.
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'manual', matched_creator_id = %s,"
            " decided_at = now() WHERE cluster_id = %s",
            (creator, ids["a"]),
        )
        conn.execute("UPDATE face_clusters SET status = 'named', creator_id = %s WHERE id = %s", (creator, ids["a"]))
        # Even an unknown face left in a named cluster stays there.
        extra = lib.add("b", 1)[0]
        conn.execute("UPDATE video_face_detections SET cluster_id = %s WHERE id = %s", (ids["a"], extra))
        conn.commit()
        named_before = conn.execute("SELECT * FROM face_clusters WHERE id = %s", (ids["a"],)).fetchone()
        members_before = clusters_of(conn)[ids["a"]]
    result = run(db)
    with connect(db) as conn:
        assert conn.execute("SELECT * FROM face_clusters WHERE id = %s", (ids["a"],)).fetchone() == named_before
        assert clusters_of(conn)[ids["a"]] == members_before
        assert ids["a"] not in result.dissolved_ids and result.kept_ids == [ids["b"]]


def test_quality_gates_and_same_frame_faces(db, video_ids):
    with connect(db) as conn:
        lib = Library(conn, video_ids)
        good = lib.add("p", 6)
        small = lib.add("p", 3, size=40.0)
        weak = lib.add("p", 3, score=0.3)
        # Blurry: the face's frame is far less sharp than the video's other frames.
        video = video_ids[0]
        blurry = lib.add("p", 1, video_ids=[video], frame_index=900)
        conn.execute(
            "INSERT INTO video_frames (video_id, frame_index, timestamp_seconds, path, width, height, sharpness)"
            " SELECT %s, i, i, '/f.jpg', 640, 360, CASE WHEN i = 900 THEN 5 ELSE 200 END"
            " FROM unnest(ARRAY[900, 901, 902, 903]) AS i",
            (video,),
        )
        # Two faces of one person in ONE frame (a mirror, a photo on the wall) are never neighbours: alone
        # together they make no cluster.
        same_frame = lib.add("q", 2, video_ids=[video], frame_index=950)
        conn.commit()
    result = run(db)
    assert result.gated == {"small": 3, "low_score": 3, "blurry": 1}
    with connect(db) as conn:
        clusters = clusters_of(conn)
        assert list(clusters.values()) == [set(good)]
        assert not any(set(g) & set().union(*clusters.values()) for g in (small, weak, blurry, same_frame))

    # Thresholds come from face_recognition_config (per model first, then for every model).
    with connect(db) as conn:
        conn.execute(
            "INSERT INTO face_recognition_config (key, value) VALUES ('cluster_min_face_size', '32'),"
            " ('buffalo_sc.cluster_min_score', '0.2'), ('cluster_min_score', '0.9')"
        )
        conn.commit()
        config = ClusteringConfig.load(conn, "buffalo_sc")
        assert (config.min_face_size, config.min_score) == (32.0, 0.2)
        assert ClusteringConfig.load(conn, "buffalo_l").min_score == 0.9
    result = run(db, replace(CONFIG, min_face_size=32.0, min_score=0.2))
    assert result.gated == {"blurry": 1}
    with connect(db) as conn:
        assert list(clusters_of(conn).values()) == [set(good) | set(small) | set(weak)]


def test_neighbour_queries_go_through_an_hnsw_index(db, video_ids):
    """No pairwise join: each face's neighbours come from one HNSW index scan (ORDER BY <=> LIMIT k), on the index of
    all faces (filtered to the candidates) or on the candidates' own temporary index."""
    with connect(db) as conn:
        lib = Library(conn, video_ids)
        ids = lib.add("p", 5) + lib.add(None, 200)
        conn.execute(read_sql("clusters/candidates_table.sql"))
        conn.execute("INSERT INTO cluster_candidates SELECT unnest(%s::int[])", (ids,))
        conn.execute("ANALYZE cluster_candidates")
        conn.execute("SET LOCAL enable_seqscan = off")  # 205 rows: show the plan the planner picks on big tables
        params = {"ids": ids[:50], "k": 11, "similarity": 0.4}
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + read_sql("clusters/neighbours.sql"), params))
        assert "Index Scan using idx_video_faces_embedding on video_face_detections d" in plan, plan
        assert "Order By: ((embedding)::halfvec(512) <=> (q.embedding)::halfvec(512))" in plan, plan
        assert not sorts_by_distance(plan) and "Join Filter" not in plan, plan  # no sort of all faces

        conn.execute(read_sql("clusters/own_index.sql"))
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + read_sql("clusters/neighbours_own_index.sql"), params))
        assert "Index Scan using cluster_faces_embedding_idx on cluster_faces c" in plan, plan
        assert not sorts_by_distance(plan), plan
        conn.rollback()


def test_an_index_from_before_on_the_full_vector_is_replaced_by_the_halfvec_one(db):
    from face_assets.db.sql_files import run_sql_file

    definition = "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_video_faces_embedding'"
    with psycopg.connect(db) as conn:
        conn.execute("DROP INDEX idx_video_faces_embedding")
        conn.execute(
            "CREATE INDEX idx_video_faces_embedding ON video_face_detections USING hnsw (embedding vector_cosine_ops)"
        )
        run_sql_file(conn, "face/schema.sql")
        assert "halfvec_cosine_ops" in conn.execute(definition).fetchone()[0]
        run_sql_file(conn, "face/schema.sql")  # and a second run leaves it
        assert "halfvec_cosine_ops" in conn.execute(definition).fetchone()[0]


def test_own_index_and_shared_index_give_the_same_clusters(db, video_ids):
    with connect(db) as conn:
        lib = Library(conn, video_ids, seed=3)
        for person in range(5):
            lib.add(person, 9)
        lib.add(None, 30)
        # Faces with a creator are most faces: the candidates get their own index by default.
        creator = conn.execute("SELECT min(id) FROM creators").fetchone()[0]
        known = lib.add("known", 300, status="matched")
        conn.execute("UPDATE video_face_detections SET matched_creator_id = %s WHERE id = ANY(%s)", (creator, known))
        conn.commit()
    own = run(db)
    assert own.method.startswith("own index")
    with connect(db) as conn:
        first = clusters_of(conn)
    shared = run(db, replace(CONFIG, own_index_below=0.0), full=True)
    assert shared.method.startswith("shared index") and shared.faces_moved == 0
    with connect(db) as conn:
        assert clusters_of(conn) == first and len(first) == 5


def test_parallel_neighbour_queries_and_timing(db, video_ids):
    """The neighbour queries can run on several connections; same clusters as on one."""
    from face_assets.defs.resources import PostgresResource

    with connect(db) as conn:
        lib = Library(conn, video_ids, seed=11)
        for person in range(10):
            lib.add(person, 12)
        lib.add(None, 100)
    database = PostgresResource(url=db)
    with database.connect() as conn:
        start = time.perf_counter()
        result = cluster_faces(conn, replace(CONFIG, workers=3, batch_size=40), connect=database.connect)
        elapsed = time.perf_counter() - start
    assert result.clusters == 10 and result.clustered_faces == 120 and result.unclustered_faces == 100
    assert elapsed < 30
    with connect(db) as conn:
        for faces in clusters_of(conn).values():
            assert len({lib.truth[f] for f in faces}) == 1


def test_face_clusters_asset_materializes(db, video_ids):
    from dagster import materialize

    from face_assets.defs.faces.assets import face_clusters
    from face_assets.defs.resources import PostgresResource

    with connect(db) as conn:
        lib = Library(conn, video_ids)
        lib.add("p", 5)
        lib.add(None, 5)
    result = materialize([face_clusters], resources={"database": PostgresResource(url=db)})
    assert result.success
    metadata = result.asset_materializations_for_node("face_clusters")[0].metadata
    assert metadata["clusters"].value == 1 and metadata["clustered_faces"].value == 5
    assert "representative crop" in metadata["largest_clusters"].value


# --- the fixture library, end to end ------------------------------------------------------------------------------------

# Tony Blair (slideshow_04, _05) and Vladimir Putin (_05, _06) among creators, two real clips of one unknown person
# each, and slideshow_02 (two creators). About 5 s of CPU per video.
E2E_VIDEOS = [
    "videos/slideshow_02.mp4",
    "videos/slideshow_04.mp4",
    "videos/slideshow_05.mp4",
    "videos/slideshow_06.mp4",
    "videos/driving_d0.mp4",
    "videos/talking_head_a.mp4",
]


@pytest.mark.slow
def test_fixture_library_one_cluster_per_unknown_person(migrated_db, dagster_instance, truth, tmp_path, monkeypatch):
    from dagster import materialize

    from face_assets.defs.faces.assets import creator_embeddings, face_clusters, face_detections, face_matches
    from face_assets.defs.faces.resources import FaceEngineResource
    from face_assets.defs.library.assets import sampled_frames
    from face_assets.defs.resources import PostgresResource

    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path / "home"))
    resources = {"database": PostgresResource(url=migrated_db), "face_engine": FaceEngineResource()}
    keys = [str(truth["legacy_video_ids"][v]) for v in E2E_VIDEOS]
    dagster_instance.add_dynamic_partitions("videos", keys)
    assert materialize([creator_embeddings], instance=dagster_instance, resources=resources).success
    range_tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    assert materialize(
        [sampled_frames, face_detections, face_matches], instance=dagster_instance, resources=resources, tags=range_tags
    ).success
    result = materialize([face_clusters], instance=dagster_instance, resources=resources)
    assert result.success

    path_of = {v: p for p, v in truth["legacy_video_ids"].items()}
    people = {p: set(truth["videos"][p]["unknown_people"]) | set(truth["videos"][p]["creators"]) for p in E2E_VIDEOS}
    with psycopg.connect(migrated_db) as conn:
        rows = conn.execute(
            "SELECT cluster_id, array_agg(DISTINCT video_id), count(*) FROM video_face_detections"
            " WHERE cluster_id IS NOT NULL GROUP BY cluster_id"
        ).fetchall()
        before = dict(conn.execute("SELECT id, size FROM face_clusters"))
    common = {}
    for cluster_id, video_ids, _size in rows:
        shared = set.intersection(*(people[path_of[v]] for v in video_ids))
        assert shared, f"cluster {cluster_id} mixes people: videos {[path_of[v] for v in video_ids]}"
        common[cluster_id] = shared
    unknown = {p for v in E2E_VIDEOS for p in truth["videos"][v]["unknown_people"]}
    assert unknown == {"Tony Blair", "Vladimir Putin", "driving_d0", "talking_head_a"}
    for person in unknown:
        clusters = [c for c, shared in common.items() if shared == {person}]
        assert len(clusters) == 1, f"{person}: clusters {clusters} ({common})"
    # The people seen in two videos are clustered across them.
    spans = {frozenset(path_of[v] for v in videos) for _, videos, _ in rows}
    assert frozenset({"videos/slideshow_04.mp4", "videos/slideshow_05.mp4"}) in spans  # Tony Blair
    assert frozenset({"videos/slideshow_05.mp4", "videos/slideshow_06.mp4"}) in spans  # Vladimir Putin

    # Again, nothing changed: the same ids, nothing moved.
    again = materialize([face_clusters], instance=dagster_instance, resources=resources)
    metadata = again.asset_materializations_for_node("face_clusters")[0].metadata
    assert metadata["faces_moved"].value == 0 and metadata["new_clusters"].value == 0
    with psycopg.connect(migrated_db) as conn:
        assert dict(conn.execute("SELECT id, size FROM face_clusters")) == before
