"""Re-runs of clustering cost only the change (issue 13): the neighbour lists a run keeps (table face_neighbours) are
updated for new, removed and changed faces, and the result is what a full run gives on the same data.

Each check runs a FULL run (every list queried, `full=True`) in a transaction that is rolled back (the cluster id
sequence put back), then the incremental run on the same state, committed; the faces' clusters, the clusters' rows
and the stored lists must be equal. The HNSW search is approximate: ef_search 200 over a few hundred faces makes it
exact here, so any difference is the incremental logic's. k is 5 so that many lists are full (the case where a
removed face forces a query and a new face must beat the last entry).
"""

from dataclasses import replace

import numpy as np
import psycopg
import pytest

from face_assets.db.sql_files import read_sql
from face_assets.recognition.clustering import ClusteringConfig, cluster_faces, enter_list, neighbour_lists
from face_assets_tests.recognition.test_clustering import Library, connect, run

CONFIG = ClusteringConfig(
    similarity=0.40,
    min_faces=2,
    neighbours=5,
    min_face_size=64,
    min_score=0.6,
    min_relative_sharpness=0.25,
    ef_search=200,
    workers=1,
)


def snapshot(conn) -> dict:
    return {
        "faces": conn.execute("SELECT id, cluster_id FROM video_face_detections ORDER BY id").fetchall(),
        "clusters": conn.execute(
            "SELECT id, status, size, n_videos, representative_detection_id FROM face_clusters ORDER BY id"
        ).fetchall(),
        "lists": conn.execute(
            "SELECT face_id, neighbour_ids, distances, cluster_id FROM face_neighbours ORDER BY face_id"
        ).fetchall(),
    }


def full_then_incremental(url: str, config: ClusteringConfig = CONFIG):
    """(full run's result, incremental run's result), after asserting both left the same state."""
    with connect(url) as conn:
        seq = conn.execute("SELECT last_value, is_called FROM face_clusters_id_seq").fetchone()
        full = cluster_faces(conn, config, full=True)
        expected = snapshot(conn)
        conn.rollback()
        conn.execute("SELECT setval('face_clusters_id_seq', %s, %s)", seq)
        conn.commit()
    with connect(url) as conn:
        incremental = cluster_faces(conn, config)
        conn.commit()
        got = snapshot(conn)
    assert full.mode == "full"
    for key in ("faces", "clusters", "lists"):
        assert got[key] == expected[key], f"{key} differ between the incremental ({incremental.method}) and a full run"
    assert (incremental.kept_ids, incremental.new_ids, incremental.dissolved_ids, incremental.faces_moved) == (
        full.kept_ids,
        full.new_ids,
        full.dissolved_ids,
        full.faces_moved,
    )
    return full, incremental


@pytest.fixture
def library(db, video_ids):
    """A library clustered once: people with 3 to 30 faces (lists of big ones are full), noise, two faces of one
    person in one frame."""
    with connect(db) as conn:
        lib = Library(conn, video_ids, seed=5)
        for person, n in enumerate([30, 20, 12, 8, 6, 4, 3]):
            lib.add(f"p{person}", n)
        lib.add(None, 40)
        lib.add("p1", 2, video_ids=[video_ids[0]], frame_index=777)
    first = run(db, CONFIG)
    assert first.mode == "full" and first.clusters >= 6
    lib.url = db
    return lib


def faces_of(lib: Library, who) -> list[int]:
    return sorted(f for f, w in lib.truth.items() if w == who)


# --- the list rules on plain data ---------------------------------------------------------------------------------------


def test_lists_from_rows_and_entering_a_kept_list():
    rows = [(1, 1, 0.0), (1, 3, 0.2), (1, 2, 0.2), (1, 4, 0.5), (2, 1, 0.2), (9, 9, 0.0)]
    assert neighbour_lists(rows, [1, 2, 5], k=2) == {1: [(0.2, 2), (0.2, 3)], 2: [(0.2, 1)], 5: []}
    entries = [(0.1, 7), (0.3, 8)]
    assert not enter_list(entries, 0.4, 9, k=2)  # a full list: only a nearer face enters
    assert enter_list(entries, 0.2, 9, k=2) and entries == [(0.1, 7), (0.2, 9)]
    assert not enter_list(entries, 0.2, 9, k=2)  # already there
    short = [(0.1, 7)]
    assert enter_list(short, 0.5, 9, k=2) and short == [(0.1, 7), (0.5, 9)]  # a short list takes any face in range


def _exact_rows(sims: np.ndarray, ids: list[int], queried: list[int], k1: int, threshold: float):
    """What the search returns with an exact k + 1 nearest (`sims`: all pairs, computed once)."""
    rows = []
    for q in queried:
        order = sorted(ids, key=lambda j: (1 - sims[q, j], j))[:k1]
        rows += [(q, j, 1 - sims[q, j]) for j in order if sims[q, j] >= threshold]
    return rows


def test_kept_lists_updated_by_the_rules_equal_fresh_lists_with_an_exact_search():
    """The rules of clustering.py (new faces enter kept lists, short lists drop removed faces, full lists that held one
    are queried again) against fresh exact k-nearest lists, on random points in 8 dimensions."""
    rng = np.random.default_rng(1)
    k, threshold = 4, 0.6
    emb = rng.standard_normal((400, 8))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    emb = emb @ emb.T
    before = list(range(300))
    removed = set(rng.choice(before, 30, replace=False).tolist())
    after = [i for i in before if i not in removed] + list(range(300, 330))
    new = list(range(300, 330))
    lists = neighbour_lists(_exact_rows(emb, before, before, k + 1, threshold), before, k)

    after_set, requery = set(after), []
    for face in before:
        if face in removed:
            del lists[face]
        elif any(b in removed for _, b in lists[face]):
            if len(lists[face]) >= k:
                requery.append(face)
                del lists[face]
            else:
                lists[face] = [(d, b) for d, b in lists[face] if b in after_set]
    lists.update(neighbour_lists(_exact_rows(emb, after, new + requery, k + 1, threshold), new + requery, k))
    reach = _exact_rows(emb, after, new, len(after), threshold)  # everything within the threshold of a new face
    for f, a, d in reach:
        if a != f and a not in new and a not in requery:
            enter_list(lists[a], d, f, k)
    fresh = neighbour_lists(_exact_rows(emb, after, after, k + 1, threshold), after, k)
    assert lists == fresh


# --- on PostgreSQL: incremental == full ----------------------------------------------------------------------------------


def test_nothing_changed_is_checked_not_recomputed(library):
    with connect(library.url) as conn:
        updated = conn.execute("SELECT id, updated_at FROM face_clusters ORDER BY id").fetchall()
    full, again = full_then_incremental(library.url)
    assert again.mode == "unchanged" and again.queried == 0 and again.lists_written == 0
    assert again.clusters == full.clusters and again.clustered_faces == full.clustered_faces
    assert again.edges == full.edges and again.sizes == full.sizes
    with connect(library.url) as conn:
        assert conn.execute("SELECT id, updated_at FROM face_clusters ORDER BY id").fetchall() == updated


def _one_face_moved_by_hand(conn, lib):
    _, b = (
        conn.execute("SELECT cluster_id FROM video_face_detections WHERE id = %s", (faces_of(lib, p)[0],)).fetchone()[0]
        for p in ("p0", "p1")
    )
    conn.execute("UPDATE video_face_detections SET cluster_id = %s WHERE id = %s", (b, faces_of(lib, "p0")[1]))


def _empty_open_cluster(conn, lib):
    conn.execute("INSERT INTO face_clusters (status) VALUES ('open')")


def _known_face_in_an_open_cluster(conn, lib):
    cluster = conn.execute(
        "SELECT cluster_id FROM video_face_detections WHERE id = %s", (faces_of(lib, "p0")[0],)
    ).fetchone()[0]
    lib.conn = conn
    conn.execute(
        "UPDATE video_face_detections SET cluster_id = %s WHERE id = ANY(%s)",
        (cluster, lib.add("p0", 1, status="matched")),
    )


def _box_shrunk(conn, lib):  # gated out by a column the change-log trigger does not watch
    conn.execute("UPDATE video_face_detections SET bbox_width = 20 WHERE id = %s", (faces_of(lib, "p2")[0],))


def _link_made(conn, lib):
    faces = faces_of(lib, "p0")[:2]
    conn.execute(read_sql("review/link_faces.sql"), {"ids": faces, "link_group": faces[0]})


def _score_changed(conn, lib):  # seen by the change log only (still a candidate, same cluster)
    conn.execute("UPDATE video_face_detections SET quality_score = 0.85 WHERE id = %s", (faces_of(lib, "p3")[0],))


@pytest.mark.parametrize(
    "change",
    [
        _one_face_moved_by_hand,
        _empty_open_cluster,
        _known_face_in_an_open_cluster,
        _box_shrunk,
        _link_made,
        _score_changed,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_every_real_change_is_seen_by_the_unchanged_check(library, change):
    """The one-statement check (sql/clusters/unchanged.sql) must let no change through: each of these makes the run
    go on (incremental), with the clusters of a full run."""
    with connect(library.url) as conn:
        change(conn, library)
        conn.commit()
    _, result = full_then_incremental(library.url)
    assert result.mode == "incremental", result.method
    _, again = full_then_incremental(library.url)
    assert again.mode == "unchanged"


def test_a_new_face_gated_out_changes_nothing_but_the_counts(library):
    with connect(library.url) as conn:
        library.conn = conn
        library.add("p0", 1, size=20)
    full, result = full_then_incremental(library.url)
    assert result.mode == "unchanged" and result.gated == full.gated == {"small": 1}
    assert (result.unknown_faces, result.candidates) == (full.unknown_faces, full.candidates)


def test_new_faces(library):
    with connect(library.url) as conn:
        library.conn = conn
        for person in ("p0", "p1", "p3", "p6"):
            library.add(person, 2)
        library.add("new person", 4)
        library.add(None, 6)
    candidates = len(library.truth)
    _, result = full_then_incremental(library.url)
    assert result.mode == "incremental" and 14 <= result.queried < candidates / 4, result.method
    # a second round on what the incremental run kept
    with connect(library.url) as conn:
        library.conn = conn
        library.add("p2", 3)
    _, result = full_then_incremental(library.url)
    assert result.mode == "incremental" and result.queried < 10, result.method


def test_removed_faces(library):
    with connect(library.url) as conn:
        gone = faces_of(library, "p0")[:8] + faces_of(library, "p5") + faces_of(library, None)[:5]
        conn.execute("DELETE FROM video_face_detections WHERE id = ANY(%s)", (gone,))
        conn.commit()
    full, result = full_then_incremental(library.url)
    assert result.mode == "incremental" and 0 < result.queried < 60, result.method
    assert full.dissolved_ids  # p5's cluster went with its faces


def test_faces_decided_or_assigned_by_a_person(library):
    with connect(library.url) as conn:
        creator = conn.execute("SELECT min(id) FROM creators").fetchone()[0]
        # assigned to a creator: out of clustering
        assigned = faces_of(library, "p1")[:6] + faces_of(library, "p4")
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'manual', matched_creator_id = %s,"
            " decided_at = now() WHERE id = ANY(%s)",
            (creator, assigned),
        )
        # faces that were matched (not clustered) and a person rejected: unknown again, clustered
        library.conn = conn
        matched = library.add("p2", 3, status="matched")
        conn.execute("UPDATE video_face_detections SET matched_creator_id = %s WHERE id = ANY(%s)", (creator, matched))
        conn.commit()
    run(library.url, CONFIG)
    with connect(library.url) as conn:
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'rejected', decided_at = now() WHERE id = ANY(%s)",
            (matched,),
        )
        conn.commit()
    _, result = full_then_incremental(library.url)
    assert result.mode == "incremental" and result.queried < 20, result.method
    with connect(library.url) as conn:
        p2 = {
            c
            for f, c in conn.execute(
                "SELECT id, cluster_id FROM video_face_detections WHERE id = ANY(%s)", (faces_of(library, "p2"),)
            )
        }
        assert len(p2) == 1 and None not in p2


def test_faces_changed_in_place_and_links_a_person_made(library):
    with connect(library.url) as conn:
        # Re-detection keeps a face's id and rewrites its embedding: one face of p3 now looks like p6.
        moved = faces_of(library, "p3")[0]
        conn.execute("UPDATE video_face_detections SET embedding = %s WHERE id = %s", (library.centre("p6"), moved))
        # A person merged p4's cluster into p5's (review cluster merge): faces moved and linked.
        into, other = (
            conn.execute(
                "SELECT DISTINCT cluster_id FROM video_face_detections WHERE id = ANY(%s)", (faces_of(library, p),)
            ).fetchone()[0]
            for p in ("p5", "p4")
        )
        conn.execute(read_sql("review/merge_clusters.sql"), {"into": into, "other": other})
        members = [r[0] for r in conn.execute("SELECT id FROM video_face_detections WHERE cluster_id = %s", (into,))]
        conn.execute(read_sql("review/link_faces.sql"), {"ids": members, "link_group": into})
        conn.commit()
    _, result = full_then_incremental(library.url)
    assert result.mode == "incremental" and result.queried < 15, result.method
    with connect(library.url) as conn:
        clusters = dict(conn.execute("SELECT id, cluster_id FROM video_face_detections").fetchall())
    assert clusters[moved] == clusters[faces_of(library, "p6")[0]]
    assert len({clusters[f] for f in faces_of(library, "p4") + faces_of(library, "p5")}) == 1


def test_another_threshold_or_k_forces_a_full_run(library):
    stricter = replace(CONFIG, similarity=0.5)
    _, result = full_then_incremental(library.url, stricter)
    assert result.mode == "full"
    _, result = full_then_incremental(library.url, stricter)
    assert result.mode == "unchanged"
    _, result = full_then_incremental(library.url, replace(stricter, neighbours=7))
    assert result.mode == "full"
    # min_faces only changes how the kept lists are clustered: no query
    _, result = full_then_incremental(library.url, replace(stricter, neighbours=7, min_faces=1))
    assert result.mode == "incremental" and result.queried == 0


def test_many_changes_at_once_over_several_runs(library, video_ids):
    rng = np.random.default_rng(3)
    with connect(library.url) as conn:
        library.conn = conn
        for round_ in range(3):
            people = [f"p{i}" for i in range(7)] + [f"q{round_}"]
            for person in rng.choice(people, 4, replace=False):
                library.add(str(person), int(rng.integers(1, 4)))
            library.add(None, 3)
            alive = [r[0] for r in conn.execute("SELECT id FROM video_face_detections")]
            conn.execute(
                "DELETE FROM video_face_detections WHERE id = ANY(%s)", (rng.choice(alive, 4, replace=False).tolist(),)
            )
            conn.execute(
                "UPDATE video_face_detections SET quality_score = 0.3 WHERE id = %s",  # gated out now
                (int(rng.choice(alive)),),
            )
            conn.commit()
            _, result = full_then_incremental(library.url)
            assert result.mode == "incremental", result.method


def test_truncating_the_faces_forgets_the_lists(library):
    with psycopg.connect(library.url) as conn:
        conn.execute("TRUNCATE video_face_detections CASCADE")
        assert conn.execute("SELECT count(*) FROM face_neighbours").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM face_neighbour_state").fetchone()[0] == 0
