"""A track is one must-link unit for the clustering (issue 20): the candidate faces of one track (video_face_tracks,
written by store_tracks) end in one cluster, or none of them does; a track makes no cluster by itself; new tracks
make the next run cluster again, and a run with nothing changed stays a no-op. Real PostgreSQL + pgvector, synthetic
unit vectors in video_face_detections rows of the migrated fixture database."""

import dataclasses

import numpy as np
import psycopg
import pytest

from face_assets.recognition.clustering import density_clusters
from face_assets.recognition.timeline import ensure_schema, store_tracks
from face_assets_tests.recognition.test_clustering import (
    DIM,
    Library,
    clusters_of,
    connect,
    identity_samples,
    run,
    unit_rows,
)
from face_assets_tests.recognition.test_incremental_clustering import CONFIG as INCREMENTAL
from face_assets_tests.recognition.test_incremental_clustering import full_then_incremental

# The incremental tests' settings (ef_search well above the faces here: the search is exact, so full and incremental
# runs must agree exactly), with one neighbour making a core face and room for a track's faces in the lists.
CONFIG = dataclasses.replace(INCREMENTAL, min_faces=1, neighbours=10)


# --- the rule on plain ids ---------------------------------------------------------------------------------------------


def _by_definition(ids, edges, min_faces, links, tracks):
    """density_clusters' docstring the slow way: members (core, border, linked) joined by core edges, border edges
    and links; tracks join their faces too, and a component is a cluster iff it holds a member and two faces."""
    ids = set(ids)
    out: dict[int, dict[int, float]] = {a: {} for a in ids}
    for a, b, sim in edges:
        if a != b and a in ids and b in ids:
            out[a][b] = max(sim, out[a].get(b, sim))
    core = {a for a in ids if min_faces <= 0 or len(out[a]) >= min_faces}
    adjacent: dict[int, set[int]] = {a: set() for a in ids}

    def join(x, y):
        adjacent[x].add(y)
        adjacent[y].add(x)

    for a in core:
        for b in out[a]:
            if b in core:
                join(a, b)
    members = set(core)
    for x in ids - core:
        options = [(out[c][x], -c) for c in core if x in out[c]] + [(sim, -c) for c, sim in out[x].items() if c in core]
        if options:
            join(x, -max(options)[1])
            members.add(x)
    for groups, makes_members in ((links, True), (tracks, False)):
        faces_of: dict[int, list[int]] = {}
        for face, group in groups.items():
            if face in ids:
                faces_of.setdefault(group, []).append(face)
        for faces in faces_of.values():
            if len(faces) > 1:
                if makes_members:
                    members.update(faces)
                for other in faces[1:]:
                    join(faces[0], other)
    seen: set[int] = set()
    clusters = []
    for start in sorted(ids):
        if start not in seen:
            seen.add(start)
            stack, component = [start], []
            while stack:
                face = stack.pop()
                component.append(face)
                stack.extend(n for n in adjacent[face] if n not in seen)
                seen.update(adjacent[face])
            if len(component) >= 2 and members.intersection(component):
                clusters.append(sorted(component))
    return sorted(clusters)


def test_a_track_joins_a_cluster_whole_and_makes_none_by_itself():
    # 1-2-3 a cluster (min_faces 1); 4 alone; 5-6 alone. Track {3, 4}: 4 joins 1-2-3. Track {5, 6}: no member, none.
    edges = [(1, 2, 0.9), (2, 3, 0.8)]
    assert density_clusters(range(1, 7), edges, 1) == [[1, 2, 3]]
    assert density_clusters(range(1, 7), edges, 1, tracks={3: 7, 4: 7, 5: 8, 6: 8}) == [[1, 2, 3, 4]]
    # the same faces linked by a person: 5-6 do make a cluster
    assert density_clusters(range(1, 7), edges, 1, links={5: 1, 6: 1}) == [[1, 2, 3], [5, 6]]
    # a track holding faces of two clusters puts them together (must-link, as a person's link does)
    two = [(1, 2, 0.9), (5, 6, 0.9)]
    assert density_clusters(range(1, 7), two, 1, tracks={2: 3, 4: 3, 6: 3}) == [[1, 2, 4, 5, 6]]
    # faces of the track that are not candidates are left out
    assert density_clusters([1, 2, 4], edges, 1, tracks={3: 7, 4: 7}) == [[1, 2]]


def test_density_clusters_with_tracks_agrees_with_its_definition_on_random_graphs():
    rng = np.random.default_rng(20)
    for _ in range(400):
        ids = rng.choice(np.arange(1, 120), size=int(rng.integers(0, 40)), replace=False).tolist()
        pool = (
            ids + rng.integers(1, 150, 3).tolist()
        )  # some edges, links and tracks reach faces that are not candidates
        edges = [
            (int(rng.choice(pool)), int(rng.choice(pool)), float(rng.choice([0.5, 0.6, rng.random()])))
            for _ in range(int(rng.integers(0, 60)))
        ]
        links = {int(rng.choice(pool)): int(rng.integers(1, 4)) for _ in range(int(rng.integers(0, 4)))}
        tracks = {int(rng.choice(pool)): int(rng.integers(1, 6)) for _ in range(int(rng.integers(0, 25)))}
        min_faces = int(rng.integers(-1, 4))
        got = density_clusters(ids, edges, min_faces, links, tracks)
        assert got == _by_definition(ids, edges, min_faces, links, tracks)


# --- on the database ---------------------------------------------------------------------------------------------------


def insert_face(conn: psycopg.Connection, video: int, frame: int, vector: np.ndarray) -> int:
    return conn.execute(
        "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
        " bbox_width, bbox_height, quality_score, match_status, crop_path)"
        " VALUES (%s, %s, %s, %s, 0, 0, 100, 100, 0.8, 'unmatched', %s) RETURNING id",
        (video, 0.5 * frame, frame, vector, f"/crops/{video}/{frame}.jpg"),
    ).fetchone()[0]


def off_view(rng: np.random.Generator, centre: np.ndarray, similarity: float = 0.3) -> np.ndarray:
    """A face of the person at `centre` the model barely recognises (a profile view): `similarity` to the centre,
    so below cluster_similarity to every other face of that person (~0.25 to the frontal ones)."""
    noise = rng.standard_normal(DIM)
    noise -= (noise @ centre) * centre
    return unit_rows(similarity * centre + np.sqrt(1 - similarity**2) * unit_rows(noise))


def set_tracks(url: str, video: int, tracks: list[list[int]]) -> None:
    """Replace the video's tracks (store_tracks) by these lists of faces, track 0, 1, ..."""
    with connect(url) as conn:
        store_tracks(conn, [video], [(video, n, 0.0, 10.0, faces) for n, faces in enumerate(tracks)])
        conn.commit()


def cluster_of(url: str) -> dict[int, int]:
    with connect(url) as conn:
        return {face: cluster for cluster, faces in clusters_of(conn).items() for face in faces}


@pytest.fixture
def scene(db, video_ids):
    """Person P: frontal faces in the other videos (a cluster by the usual rule), and in video V a track of five
    frontal faces (frames 1-5), then three profile views (frames 6, 7 and 7: two in one frame, which a track
    should never hold), no neighbour of anyone; noise elsewhere. No tracks stored yet."""
    rng = np.random.default_rng(3)
    with connect(db) as conn:
        ensure_schema(conn)
        conn.execute("DELETE FROM video_face_tracks")
        lib = Library(conn, video_ids[1:], seed=4)
        centre = lib.centre("P")
        elsewhere = lib.add("P", 6)
        lib.add(None, 20)
        video = video_ids[0]
        frontal = [
            insert_face(conn, video, frame, v) for frame, v in enumerate(identity_samples(lib.rng, centre, 5), start=1)
        ]
        profile = [insert_face(conn, video, frame, off_view(rng, centre)) for frame in (6, 7, 7)]
        conn.commit()
    return {"url": db, "video": video, "elsewhere": elsewhere, "frontal": frontal, "profile": profile}


def test_the_faces_of_a_track_end_in_one_cluster_and_new_tracks_are_seen(scene):
    url, video, frontal, (profile, twin_a, twin_b) = scene["url"], scene["video"], scene["frontal"], scene["profile"]
    first = run(url, CONFIG)
    assert first.mode == "full"
    clusters = cluster_of(url)
    person = clusters[frontal[0]]
    assert {clusters.get(f) for f in frontal + scene["elsewhere"]} == {person}
    # (b) without a track the profile views are no one's neighbours: unclustered
    assert {clusters.get(f) for f in scene["profile"]} == {None}

    # (a, c) the track replaces the video's (none): the next run is no "unchanged", queries no list (tracks change
    # none), and puts the profile view in the track's cluster; the two faces of one frame are linked through no track
    set_tracks(url, video, [[*frontal, profile, twin_a, twin_b]])
    full, result = full_then_incremental(url, CONFIG)
    assert result.mode == "incremental" and result.queried == 0, result.method
    assert result.faces_moved == full.faces_moved == 1
    clusters = cluster_of(url)
    assert clusters.get(profile) == person
    assert clusters.get(twin_a) is None and clusters.get(twin_b) is None

    # nothing changed: a no-op, and so are the same tracks written again
    again = run(url, CONFIG)
    assert (again.mode, again.queried, again.lists_written, again.faces_moved) == ("unchanged", 0, 0, 0)
    assert again.sizes == result.sizes and again.kept_ids == sorted(result.sizes) and not again.new_ids
    set_tracks(url, video, [[*frontal, profile, twin_a, twin_b]])
    assert run(url, CONFIG).mode == "unchanged"

    # (b) the same data, the track taken away again: the profile view leaves the cluster
    set_tracks(url, video, [])
    full, result = full_then_incremental(url, CONFIG)
    assert result.mode == "incremental" and result.faces_moved == 1, result.method
    clusters = cluster_of(url)
    assert clusters.get(profile) is None and clusters.get(frontal[0]) == person

    # another partition of the video's faces (a track of the frontal faces, one of the profile view and a twin):
    # seen too, and the twin goes where its track goes (nowhere: no face of that track is clustered)
    set_tracks(url, video, [frontal, [profile, twin_a]])
    result = run(url, CONFIG)
    assert result.mode == "incremental" and result.faces_moved == 0, result.method
    assert cluster_of(url).get(profile) is None
    assert run(url, CONFIG).mode == "unchanged"


def test_a_track_of_faces_of_two_clusters_puts_them_together(scene):
    """Must-link as a person's link: a track whose faces sit in two clusters makes them one."""
    url, video, frontal = scene["url"], scene["video"], scene["frontal"]
    with connect(url) as conn:
        other = Library(conn, [video], seed=9)
        other.frame = 100  # frames beyond the scene's
        stranger = other.add("Q", 4)  # another cluster of video V
    run(url, CONFIG)
    clusters = cluster_of(url)
    assert clusters[stranger[0]] != clusters[frontal[0]]
    set_tracks(url, video, [frontal + stranger[:1]])
    full, result = full_then_incremental(url, CONFIG)
    clusters = cluster_of(url)
    assert {clusters[f] for f in frontal + stranger + scene["elsewhere"]} == {clusters[frontal[0]]}
    assert result.clusters == full.clusters == 1


def test_a_track_alone_makes_no_cluster(db, video_ids):
    """(d) A track of six faces of one person in one video, no two of them neighbours (views the model barely
    recognises) and nobody like them elsewhere: no cluster, however many faces (min_faces 1); faces a person
    linked would make one. A track of faces that are neighbours makes one by the usual rule, track or not."""
    rng = np.random.default_rng(8)
    video = video_ids[0]
    with connect(db) as conn:
        ensure_schema(conn)
        conn.execute("DELETE FROM video_face_tracks")
        centre = unit_rows(rng.standard_normal(DIM))
        views = [insert_face(conn, video, frame, off_view(rng, centre)) for frame in range(1, 7)]
        Library(conn, video_ids[1:], seed=2).add(None, 20)
        conn.commit()
    assert run(db, CONFIG).clusters == 0
    set_tracks(db, video, [views])
    result = run(db, CONFIG)
    assert result.mode == "incremental" and result.clusters == 0 and result.clustered_faces == 0
    assert run(db, CONFIG).mode == "unchanged"

    with connect(db) as conn:
        similar = Library(conn, [video], seed=6).add("R", 3)
    set_tracks(db, video, [views, similar])
    result = run(db, CONFIG)
    assert result.clusters == 1 and sorted(result.sizes.values()) == [3]
    set_tracks(db, video, [views])
    assert run(db, CONFIG).sizes == result.sizes  # the usual rule's cluster, with or without its track
