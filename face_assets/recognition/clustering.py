"""Clusters of unknown faces: recurring people who are not creators yet (asset `face_clusters`).

Which faces: those without a confirmed, auto-tagged or proposed creator (sql/clusters/candidates.sql: 'unmatched',
'rejected', or 'pending' with no candidate creator), across all videos, that pass the quality gates (box size,
detection score, a frame not much blurrier than the rest of its video). Faces of named or merged clusters are never
touched.

How (DBSCAN-like, scaling with an HNSW index instead of a pairwise join):
1. for every candidate face, its k nearest candidate faces through an HNSW index, one index scan per face (a LATERAL
   join over a batch of faces), kept when the cosine similarity (on the index's halfvec copies) is >=
   `cluster_similarity`; faces of the same frame are never neighbours (two faces in one frame are two people). The
   lists are kept (table face_neighbours, with the settings they were computed with): a re-run queries only new,
   changed or removed faces and the lists that held them, and nothing at all when nothing changed (see the notes
   above `neighbour_lists`; "nothing changed" is one SQL statement, sql/clusters/unchanged.sql: the candidates
   compared with the stored lists' faces and clusters, the settings, the links, the tracks and the change log, no
   row per face fetched); another similarity, k, ef_search or model makes a full run. Two ways, chosen by the
   candidates' share of all faces (`cluster_own_index_below`, see `find_neighbours`): the index of all faces
   filtered to the candidates (`hnsw.iterative_scan = relaxed_order`; batches in parallel connections), or, when
   candidates are few among many known faces, a temporary table of the candidates with its own HNSW index;
2. core faces have >= `cluster_min_faces` neighbours; clusters are the connected components of core faces
   (numpy arrays, scipy's connected components), a border face joins the cluster of its most similar core
   neighbour, faces a person linked (`review cluster merge`, table face_cluster_links) stay together, and so do the
   faces of one track (video_face_tracks: one person over consecutive sampled frames, profile views included, which
   may be no neighbour of the frontal ones; sql/clusters/track_groups.sql; two faces of one frame are never linked
   through a track); everything else stays unclustered (NULL). A track is must-link, but no evidence of a recurring
   person (it is one stretch of one video, and clusters are meant to be recurring unknown faces): all its faces join
   the cluster one of them reaches by the density rule, and a track makes no cluster by itself, however long (its
   consecutive faces are usually neighbours, which the usual rule counts as it counts any). Faces a person linked
   do make one (a person's word). Immich and PhotoPrism cluster photos (no tracks) by density alone; the track is
   a video's own "same person" evidence, as good as a person's link for keeping faces together, not for saying
   someone recurs. Tracks change no neighbour list: new tracks (store_tracks) make the next run cluster the kept
   lists again, without a query;
   then a cluster seen in exactly two videos (and held by no person's link) rests on one coincidence, the likeness
   of two sightings, found among all n (n - 1) / 2 pairs of candidate faces: it stays only when that likeness (its
   strongest pair of faces across the two videos) reaches `pair_similarity`, the similarity different people reach
   with probability cluster_max_false_pairs / pairs, so that a library expects at most `cluster_max_false_pairs`
   clusters of two strangers however large it grows (Bonferroni over the pairs; the tail of the model's
   calibration, `Calibration.tail_threshold`). Below it the two sightings wait for a third. Measured at library
   scale (benchmarks/ row recognition.scale: 1,720 candidate faces, ~1.5 M pairs): 0.40 let two brothers, each
   seen once, make a cluster at similarity 0.47; the rule asks 0.497 there (0 impure clusters of 220; 33 pairs
   wait, 31 of them a recurring stranger's two photos), and nothing more of a small library (a few hundred faces:
   below cluster_similarity). A cluster seen in three videos or more rests on two or more coincidences at once,
   which a library of n faces meets about n (n FAR)^2 times, not n^2 FAR (not covered: a stranger joining a
   recurring person's cluster through one likeness, judged by cluster_similarity alone);
3. stable ids: a new cluster keeps the id of the open cluster it shares most faces with (greedy one-to-one matching
   by overlap, largest first), else gets a new id from the sequence; open clusters without a successor are
   'dissolved' with size 0. Ids are never reused.
4. set-based writes: video_face_detections.cluster_id from unnest() arrays (only rows whose cluster changes; HOT
   updates, see the fillfactor in sql/face/schema.sql), then size, n_videos and representative face of
   every touched cluster (sql/clusters/update_stats.sql).

Measured (benchmarks/bench_clustering.py, 2 cores, embedded PostgreSQL 18 with shared_buffers 1GB, pgvector 0.8.5):
100,000 unknown faces (8,000 people x 10 + 20,000 noise) clustered in ~53 s on a first run (neighbours 49 s on 2
connections, writing 80,000 cluster_ids 3 s), every person but 4 recovered, no cluster mixing people, no noise face
clustered. What it took (from 829 s): shared_buffers above the HNSW index's size (the 128MB default read index pages
through the OS for every face), fillfactor 45 so that every cluster_id write is a HOT update (416 s -> 1.6 s: no
HNSW re-insertion), cluster statistics without a join planned on stale estimates (90 s -> 1 s), ef_search 20 instead
of 40 (84 s -> 49 s for the neighbours). The index is on `embedding::halfvec(512)` (130 MiB instead of 260 MiB at
100,000 faces; 51.5 s, 7,999 of 8,000 people recovered). Re-runs (rows clustering.rerun and
clustering.one_percent_new). Nothing changed: 1.3-1.9 s under load ~10 when the candidates and the stored clusters
(~200,000 rows) were fetched and compared in Python; 0.55-0.68 s under load ~5 with the one statement of
sql/clusters/unchanged.sql (a full re-run: 104 s). 1,000 new faces: 5.9-6.3 s against 99.8 s for a full run on the
same state (6.0%, load ~5); on a quiet machine where the full run took 28.6 s the same code took 3.65 s (12.8%),
then 2.86 s against 32.0 s (8.9%) once the clusters were formed on arrays and the new faces' first query asked for 2
(k + 1) faces, and 2.24 s against 33.8 s (6.6%) with the kept lists read and used as arrays. Same clusters as a full
run with an exact search (face_assets_tests/recognition/test_incremental_clustering.py); with ef_search 20 at
100,000 faces, 20-41 of 101,000 faces end in another cluster than the full run's. Where the kept lists of the two
differ (~1,500-2,300 faces), the incremental lists miss fewer true neighbours of an exact search than the full run's
(7,670 vs 8,579; 10,565 vs 12,528 in another run): the difference is the approximate search's (each run asks the
index different questions, on a graph the new faces changed), not the incremental logic's, and neither run is the
exact answer.

Settings (table face_recognition_config, `<model>.<key>` first, then `<key>`; absent: the per-model defaults below):
`cluster_similarity` (cosine similarity, like every threshold), `cluster_min_faces`, `cluster_neighbours`,
`cluster_min_face_size` (default: `min_face_size`), `cluster_min_score`, `cluster_min_relative_sharpness`,
`cluster_ef_search`, `cluster_workers`, `cluster_batch_size`, `cluster_own_index_below`, `cluster_max_false_pairs`.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

import numpy as np
import psycopg
from psycopg.types.json import Jsonb
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from face_assets import settings
from face_assets.db.schema_upgrade import upgrade
from face_assets.db.sql_files import read_sql, with_fragments
from face_assets.recognition.config import RecognitionConfig, model_key
from face_assets.recognition.evidence import Likelihood, describe_model, likelihood_model

# One clustering (or cluster edit by review) at a time: transaction-level advisory lock on this key.
LOCK_KEY = "face_assets:face_clusters"

# Per model pack: the cosine similarity at or above which two faces are neighbours, coordinated with the similarity
# distributions (see face_assets.recognition.config.MODEL_DEFAULTS): with buffalo_sc (the fixture pack), different
# people measured at most 0.25 (99.9th percentile 0.21), one person's faces 0.40-0.78 (photos of one person in the
# fixture slideshows ~0.5-0.8). For buffalo_l InsightFace calls a pair "the same person" from 0.28. Clustering chains
# faces (A~B, B~C puts A and C together), so false links add up over a library: the threshold sits well above the
# different-person tail, at the low end of the same-person range.
# buffalo_sc's is its shipped calibration's threshold at FAR 1e-5 (0.352) rounded up to 0.05
# (calibration_store.SETTING_FARS; a test keeps them in step); buffalo_l's is not calibrated yet. `face-assets
# calibrate --apply` writes `<model>.cluster_similarity`, which wins over these.
MODEL_SIMILARITY = {"buffalo_sc": 0.40, "buffalo_l": 0.40}
DEFAULT_SIMILARITY = 0.40


@dataclass(frozen=True)
class ClusteringConfig:
    similarity: float = DEFAULT_SIMILARITY  # cluster_similarity: neighbours at or above this cosine similarity
    min_faces: int = 1  # cluster_min_faces: neighbours (besides itself) that make a face a core face
    neighbours: int = 10  # cluster_neighbours: k, the nearest faces looked at per face
    min_face_size: float = 64.0  # cluster_min_face_size: px, shorter side of the box (default: min_face_size)
    min_score: float = 0.6  # cluster_min_score: detection score (video_face_detections.quality_score)
    min_relative_sharpness: float = 0.25  # cluster_min_relative_sharpness: frame sharpness / video's median
    ef_search: int = 20  # cluster_ef_search: hnsw.ef_search for the neighbour queries (>= k + 1 is used); 100,000
    #                      faces: 40 took 84 s, 20 took 45-49 s, the same identities recovered, none mixed (benchmarks/)
    workers: int = 2  # cluster_workers: parallel connections for the neighbour queries (with a `connect`)
    batch_size: int = 500  # cluster_batch_size: faces per neighbour query
    own_index_below: float = 0.25  # cluster_own_index_below: candidates' share of all faces under which they get
    #                                their own temporary HNSW index (see find_neighbours)
    max_false_pairs: float = 0.05  # cluster_max_false_pairs: expected clusters of two strangers per library (see
    #                                `pair_similarity`)

    KEYS: ClassVar[dict[str, str]] = {
        "similarity": "cluster_similarity",
        "min_faces": "cluster_min_faces",
        "neighbours": "cluster_neighbours",
        "min_face_size": "cluster_min_face_size",
        "min_score": "cluster_min_score",
        "min_relative_sharpness": "cluster_min_relative_sharpness",
        "ef_search": "cluster_ef_search",
        "workers": "cluster_workers",
        "batch_size": "cluster_batch_size",
        "own_index_below": "cluster_own_index_below",
        "max_false_pairs": "cluster_max_false_pairs",
    }

    @classmethod
    def for_model(cls, model: str | None = None, recognition: RecognitionConfig | None = None) -> ClusteringConfig:
        """The defaults for a model pack (FACE_ASSETS_MODEL when None)."""
        recognition = recognition or RecognitionConfig()
        name = model_key(model or settings.model_name())
        return cls(
            similarity=MODEL_SIMILARITY.get(name, DEFAULT_SIMILARITY),
            min_face_size=float(recognition.min_face_size),
            min_score=max(0.6, float(recognition.min_detection_score)),
        )

    @classmethod
    def load(cls, conn: psycopg.Connection, model: str | None = None) -> ClusteringConfig:
        """The model's defaults, overridden by face_recognition_config rows: `<model>.cluster_*` first (for one
        model pack), then `cluster_*` (for every model)."""
        name = model_key(model or settings.model_name())
        base = cls.for_model(name, RecognitionConfig.load(conn, model=name))
        rows = dict(conn.execute("SELECT key, value FROM face_recognition_config").fetchall())
        values = {}
        for f in fields(cls):
            key = cls.KEYS.get(f.name)
            raw = rows.get(f"{name}.{key}", rows.get(key)) if key else None
            if raw is not None:
                values[f.name] = (int if f.type in (int, "int") else float)(raw)
        return cls(**{**asdict(base), **values})


@dataclass
class ClusteringResult:
    config: ClusteringConfig
    unknown_faces: int = 0  # faces without a creator (candidates before the quality gates)
    gated: dict[str, int] = field(default_factory=dict)  # faces kept out by each quality gate
    candidates: int = 0  # faces clustered
    edges: int = 0  # neighbour pairs found (directed, within cluster_similarity)
    method: str = ""  # how neighbours were found: 'shared index...' or 'own index...' (see find_neighbours)
    clusters: int = 0  # open clusters after the run
    clustered_faces: int = 0
    unclustered_faces: int = 0
    kept_ids: list[int] = field(default_factory=list)  # clusters that kept their id
    new_ids: list[int] = field(default_factory=list)
    dissolved_ids: list[int] = field(default_factory=list)
    faces_moved: int = 0  # faces whose cluster_id changed
    mode: str = ""  # 'full' (every list queried), 'incremental' (only what changed), 'unchanged' (nothing to do)
    queried: int = 0  # faces whose neighbour list was queried
    lists_written: int = 0  # rows of face_neighbours written
    sizes: dict[int, int] = field(default_factory=dict)  # cluster id -> faces
    pair_similarity: float | None = None  # what a cluster seen in two videos needs (`pair_similarity`)
    pairs_waiting: int = 0  # clusters seen in two videos under it: unclustered, waiting for a third sighting
    seconds: dict[str, float] = field(default_factory=dict)


# --- the algorithm, on plain ids (no database) ----------------------------------------------------------------------


def _positions(face_ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each value in the sorted `face_ids`, and whether it is there at all."""
    index = np.searchsorted(face_ids, values)
    found = index < face_ids.size
    found[found] = face_ids[index[found]] == values[found]
    return index, found


def _link_pairs(face_ids: np.ndarray, links: Mapping[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(first face of its group, face) as indexes into `face_ids`, for each link group with two or more of them."""
    linked = np.array(list(links.items()), dtype=np.int64).reshape(-1, 2)
    return _group_pairs(face_ids, linked[:, 0], linked[:, 1])


def _group_pairs(face_ids: np.ndarray, faces: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_link_pairs on arrays: `faces[i]` is in group `groups[i]`; faces not in `face_ids` are left out."""
    index, found = _positions(face_ids, faces)
    index, group = index[found], groups[found]
    order = np.lexsort((index, group))
    index, group = index[order], group[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]][: group.size])
    sizes = np.diff(np.r_[starts, group.size])
    several = np.repeat(sizes > 1, sizes)
    return np.repeat(index[starts], sizes)[several], index[several]


def density_clusters(
    ids: Iterable[int],
    edges: Iterable[tuple[int, int, float]],
    min_faces: int,
    links: Mapping[int, int] | None = None,
    tracks: Mapping[int, int] | None = None,
) -> list[list[int]]:
    """Clusters (sorted lists of face ids, sorted by their smallest id) from the neighbour edges.

    `edges`: (face, neighbour, similarity) from each face's own k-nearest list, already cut at the similarity
    threshold. A face with >= `min_faces` distinct neighbours is a core face; core faces that are neighbours (in either
    direction) are in one cluster; a border face (not core, with a core neighbour in either direction) joins its most
    similar core neighbour's cluster (ties: the smaller id). `links`: face id -> link group; faces of one group are
    kept together. `tracks`: face id -> track; faces of one track are kept together too, but a track makes no
    cluster: its faces are clustered when one of them is (core, border or linked), else none of them is. Clusters
    have at least two faces; other faces are unclustered.

    Array work (numpy; scipy's connected components): every re-run clusters all the kept lists again, ~700,000 edges
    at 100,000 faces, so this is on the path of a re-run that queried only 1% of them.
    """
    flat = np.fromiter(itertools.chain.from_iterable(edges), dtype=np.float64)
    tracked = np.array(list((tracks or {}).items()), dtype=np.int64).reshape(-1, 2)
    return _density_clusters(
        np.fromiter(ids, dtype=np.int64),
        flat[0::3].astype(np.int64),
        flat[1::3].astype(np.int64),
        flat[2::3],
        min_faces,
        links,
        (tracked[:, 0], tracked[:, 1]),
    )


def _density_clusters(
    ids: np.ndarray,
    a_id: np.ndarray,
    b_id: np.ndarray,
    sim: np.ndarray,
    min_faces: int,
    links: Mapping[int, int] | None,
    tracks: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[int]]:
    """density_clusters on arrays: the faces, the edges as three arrays (face, neighbour, similarity), and the tracks
    as two (face, track key)."""
    face_ids = np.unique(ids)  # sorted: index order is id order
    n = face_ids.size
    if n == 0:
        return []
    (a, a_found), (b, b_found) = _positions(face_ids, a_id), _positions(face_ids, b_id)
    keep = a_found & b_found & (a_id != b_id)
    a, b, sim = a[keep], b[keep], sim[keep]
    order = np.lexsort((-sim, b, a))  # each directed pair once, with its highest similarity
    a, b, sim = a[order], b[order], sim[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])][: a.size]
    a, b, sim = a[first], b[first], sim[first]

    core = np.bincount(a, minlength=n) >= min_faces if min_faces > 0 else np.ones(n, dtype=bool)
    members = core.copy()
    both_core = core[a] & core[b]
    src, dst = [a[both_core]], [b[both_core]]

    # Border faces: the most similar core neighbour, looking both ways (b in a's list, or a in b's list).
    to_core, from_core = ~core[a] & core[b], core[a] & ~core[b]
    border = np.concatenate([a[to_core], b[from_core]])
    partner = np.concatenate([b[to_core], a[from_core]])
    strength = np.concatenate([sim[to_core], sim[from_core]])
    order = np.lexsort((partner, -strength, border))
    border, partner = border[order], partner[order]
    best = np.r_[True, border[1:] != border[:-1]][: border.size]
    src.append(border[best])
    dst.append(partner[best])
    members[border[best]] = True

    if links:
        head, face = _link_pairs(face_ids, links)
        src.append(head)
        dst.append(face)
        members[face] = True
    # Tracks are must-link like links, but make no members: a track's faces are the only edges that reach a face
    # that is not a member, so a component is a cluster iff it holds a member (see the module docstring).
    tracked = tracks is not None and tracks[0].size > 0
    if tracked:
        head, face = _group_pairs(face_ids, *tracks)
        src.append(head)
        dst.append(face)

    src_all, dst_all = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(src_all.size, dtype=np.int8), (src_all, dst_all)), shape=(n, n))
    components, label = connected_components(graph, directed=False)
    if tracked:
        members = np.bincount(label[members], minlength=components)[label] > 0
    member_index = np.flatnonzero(members)
    order = np.argsort(label[member_index], kind="stable")  # ids stay ascending within a component
    grouped, labels = face_ids[member_index[order]], label[member_index[order]]
    parts = np.split(grouped, np.flatnonzero(labels[1:] != labels[:-1]) + 1)
    clusters = [part.tolist() for part in parts if part.size >= 2]
    clusters.sort(key=lambda c: c[0])
    return clusters


def pair_similarity(candidates: int, config: ClusteringConfig, tail: Likelihood) -> float | None:
    """The similarity a cluster seen in two videos needs among `candidates` faces (see the module docstring, step
    2): where different people's pairs reach it with probability cluster_max_false_pairs / (n (n - 1) / 2). None:
    no rule (fewer than two faces, or a model whose tail is unknown)."""
    pairs = candidates * (candidates - 1) // 2
    threshold = getattr(tail, "tail_threshold", None)
    if pairs < 1 or threshold is None or config.max_false_pairs <= 0:
        return None
    return threshold(min(config.max_false_pairs / pairs, 0.5))


def judge_pairs(
    clusters: list[list[int]],
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    video_of: Mapping[int, int],
    linked: Collection[int],
    threshold: float | None,
) -> tuple[list[list[int]], list[list[int]]]:
    """(kept, dissolved): the clusters seen in exactly two videos, held by no person's link, whose strongest edge
    across the two videos (`edges`: face, neighbour, similarity arrays) is under `threshold`, are dissolved."""
    if threshold is None:
        return clusters, []
    suspect = [
        i for i, c in enumerate(clusters) if len({video_of[f] for f in c}) == 2 and not any(f in linked for f in c)
    ]
    if not suspect:
        return clusters, []
    faces = np.array([f for i in suspect for f in clusters[i]], dtype=np.int64)
    owner = np.array([k for k, i in enumerate(suspect) for _ in clusters[i]], dtype=np.int64)
    video = np.array([video_of[f] for f in faces.tolist()], dtype=np.int64)
    order = np.argsort(faces)
    faces, owner, video = faces[order], owner[order], video[order]
    a_id, b_id, sim = edges
    (a, a_found), (b, b_found) = _positions(faces, a_id), _positions(faces, b_id)
    across = a_found & b_found
    a, b, sim = a[across], b[across], sim[across]
    across = (owner[a] == owner[b]) & (video[a] != video[b])
    strongest = np.full(len(suspect), -np.inf)
    np.maximum.at(strongest, owner[a[across]], sim[across])
    weak = {suspect[k] for k in np.flatnonzero(strongest < threshold).tolist()}
    return [c for i, c in enumerate(clusters) if i not in weak], [clusters[i] for i in sorted(weak)]


def carry_over_ids(clusters: Sequence[Sequence[int]], old_cluster_of: Mapping[int, int | None]) -> list[int | None]:
    """For each new cluster, the old cluster id it keeps, or None for a new id.

    Greedy one-to-one matching by overlap: the (new, old) pair sharing most faces first (ties: the older id, then
    the earlier new cluster), each old id going to at most one new cluster.
    """
    overlap: Counter[tuple[int, int]] = Counter()
    for index, faces in enumerate(clusters):
        for face in faces:
            old = old_cluster_of.get(face)
            if old is not None:
                overlap[(index, old)] += 1
    result: list[int | None] = [None] * len(clusters)
    used: set[int] = set()
    for (index, old), _count in sorted(overlap.items(), key=lambda item: (-item[1], item[0][1], item[0][0])):
        if result[index] is None and old not in used:
            result[index] = old
            used.add(old)
    return result


# --- the database side ----------------------------------------------------------------------------------------------


def lock_clusters(conn: psycopg.Connection) -> None:
    """Wait for any other clustering or cluster edit; held until the transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY,))


def ensure_schema(conn: psycopg.Connection) -> None:
    """The application schema at this code's version (face_assets.db.schema_upgrade): the review tables among them."""
    upgrade(conn)


def _temp_buffers(conn: psycopg.Connection, faces: int) -> None:
    """Room for the temporary tables (and the own index) in memory: PostgreSQL's default temp_buffers (8 MB) makes
    an index of 20,000 faces thrash (measured 5x slower queries). Only possible before the session's first use of
    a temporary table; otherwise the setting stays as it is."""
    megabytes = int(min(1024, max(32, faces * 5 * 1024 / 1e6 * 1.5)))
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('temp_buffers', %s, true)", (f"{megabytes}MB",))
    except psycopg.Error:
        pass


def _prepare_session(conn: psycopg.Connection, candidate_ids: Sequence[int], config: ClusteringConfig) -> None:
    """Per connection: the candidate ids in a temp table, pgvector's scan settings for this transaction."""
    _temp_buffers(conn, len(candidate_ids))
    conn.execute(read_sql("clusters/candidates_table.sql"))
    conn.execute("TRUNCATE cluster_candidates")
    with conn.cursor() as cur, cur.copy("COPY cluster_candidates (id) FROM STDIN") as copy:
        for face_id in candidate_ids:
            copy.write_row((face_id,))
    conn.execute("ANALYZE cluster_candidates")
    conn.execute(
        "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
        (str(max(config.ef_search, config.neighbours + 1)),),
    )


def _neighbour_batches(
    conn: psycopg.Connection,
    batches: Sequence[Sequence[int]],
    config: ClusteringConfig,
    query_file: str,
    limit: int | None = None,
) -> list[tuple[int, int, float]]:
    query = read_sql(query_file)
    rows: list[tuple[int, int, float]] = []
    for batch in batches:
        params = {"ids": list(batch), "k": limit or config.neighbours + 1, "similarity": config.similarity}
        # prepare=False: a generic plan (LIMIT and the array unknown) could abandon the index scan
        rows.extend(conn.execute(query, params, prepare=False).fetchall())
    return rows


def find_neighbours(
    conn: psycopg.Connection,
    candidate_ids: Sequence[int],
    config: ClusteringConfig,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]] | None = None,
    total_faces: int | None = None,
) -> tuple[list[tuple[int, int, float]], str]:
    """(face, neighbour, distance) rows through an HNSW index, and the method used: each candidate's k + 1 nearest
    candidates within the threshold, itself and faces of its frame included (see neighbour_lists).

    - 'shared index': the candidates are at least `own_index_below` of all faces (`total_faces`): the index of all
      faces, filtered to candidates (iterative scan); batches run in parallel over `connect()` connections if given;
    - 'own index': fewer candidates: a temporary table of them with its own HNSW index (built once, ~the cost of
      as many queries), then unfiltered nearest-neighbour queries on `conn`.
    """
    ids = list(candidate_ids)
    if total_faces and len(ids) < config.own_index_below * total_faces:
        batches = [ids[i : i + config.batch_size] for i in range(0, len(ids), config.batch_size)]
        _prepare_session(conn, ids, config)
        start = time.perf_counter()
        conn.execute(read_sql("clusters/own_index.sql"))
        built = time.perf_counter() - start
        rows = _neighbour_batches(conn, batches, config, "clusters/neighbours_own_index.sql")
        return rows, f"own index (built in {built:.1f} s)"
    with ExitStack() as stack:
        search = _SharedIndexSearch(conn, ids, config, connect, stack, len(ids))
        return search(ids, config.neighbours + 1), search.method


class _SharedIndexSearch:
    """Neighbour queries on the index of all faces, filtered to the current candidates: on `conn`, or on `workers`
    connections from `connect()` in parallel. Each session is prepared once (the candidates' temp table), so a re-run
    can ask several rounds of questions (its faces' lists, then the ranges of new faces) at that cost once."""

    def __init__(self, conn, candidate_ids, config, connect, stack: ExitStack, faces: int) -> None:
        self.config = config
        batches = -(-faces // config.batch_size)
        workers = max(1, min(config.workers, batches))
        if connect is None or workers == 1:
            self.conns = [conn]
        else:
            self.conns = [stack.enter_context(connect()) for _ in range(workers)]
        self.pool = stack.enter_context(
            ThreadPoolExecutor(max_workers=len(self.conns), thread_name_prefix="face-clusters")
        )
        list(self.pool.map(lambda c: _prepare_session(c, candidate_ids, config), self.conns))
        self.method = (
            "shared index"
            if len(self.conns) == 1 or self.conns[0] is conn
            else f"shared index, {len(self.conns)} connections"
        )

    def __call__(self, ids: Sequence[int], limit: int) -> list[tuple[int, int, float]]:
        ids = list(ids)
        size = self.config.batch_size
        batches = [ids[i : i + size] for i in range(0, len(ids), size)]
        shares = [batches[w :: len(self.conns)] for w in range(len(self.conns))]
        parts = self.pool.map(
            lambda pair: _neighbour_batches(pair[0], pair[1], self.config, "clusters/neighbours.sql", limit),
            zip(self.conns, shares),
        )
        return [row for part in parts for row in part]


# --- neighbour lists: what a run keeps for the next (table face_neighbours) -------------------------------------------
#
# A face's list: the candidates among its k + 1 nearest (itself included) whose similarity is >= cluster_similarity,
# nearest first, at most k besides itself; faces of its frame stay in the list (they take a place among the nearest,
# as in a full run) and are dropped only as edges. Order and threshold use the same number (the distance on the
# index's halfvec copies), so the faces within the threshold are a prefix of the k + 1 nearest, and a list shorter
# than k means "every candidate within the threshold is here". That is what makes a list updatable without a query:
# - a new face f with distance d to a kept face a enters a's list iff it is within the threshold and the list is
#   shorter than k or (d, f) comes before its last entry (which then leaves);
# - a face leaving the candidates (deleted, given a creator, gated out, changed) leaves a short list as it is minus
#   that face (what replaces it among the k + 1 nearest is beyond the threshold); a full list (k entries) that held
#   it is re-queried (its next nearest is not known).
# The faces a new face may enter are those within the threshold of it: its own query shows them all when it returns
# fewer than k + 1 faces; otherwise wider queries (x4 each time) until one returns fewer than it asked for.
# With an exact search this gives the lists of a full run exactly; the HNSW search is approximate in both (tests
# compare incremental and full runs with an ef_search that makes it exact at their size; the benchmark counts the
# faces clustered differently at 100,000 and checks the lists that differ against an exact search).

NeighbourList = list[tuple[float, int]]  # (distance, neighbour id), nearest first

# Version of the lists' definition above: stored lists of another version are recomputed (a full run).
NEIGHBOUR_LISTS_VERSION = 1
# A re-run that would query more than this share of the candidates' lists runs as a full run (same result, and a
# full run may use the candidates' own index).
FULL_RUN_ABOVE = 0.5
# A re-run's first query asks for this many times k + 1 faces: enough for most new faces to show every face within
# the threshold (their own list is its first k), so few need the wider rounds.
FIRST_REACH = 2


def neighbour_lists(rows: Iterable[tuple[int, int, float]], faces: Iterable[int], k: int) -> dict[int, NeighbourList]:
    """Each face's list from the rows of its query (face, neighbour, distance): nearest first (ties: smaller id),
    itself left out, at most k. Every face in `faces` gets a list, maybe empty."""
    lists: dict[int, NeighbourList] = {face: [] for face in faces}
    for a, b, d in rows:
        if a != b and a in lists:
            lists[a].append((d, b))
    for entries in lists.values():
        entries.sort()
        del entries[k:]
    return lists


def enter_list(entries: NeighbourList, distance: float, face: int, k: int) -> bool:
    """Put a new face into a kept list where a fresh query would have it; True when the list changed."""
    entry = (distance, face)
    if entry in entries or (len(entries) >= k and entry >= entries[-1]):
        return False
    bisect.insort(entries, entry)
    del entries[k:]
    return True


def list_edges(
    lists: Mapping[int, NeighbourList], frame_of: Mapping[int, tuple[int, int]]
) -> list[tuple[int, int, float]]:
    """(face, neighbour, similarity) edges for density_clusters; faces of one frame are never neighbours."""
    edges = []
    for a, entries in lists.items():
        frame = frame_of[a]
        edges.extend((a, b, 1.0 - d) for d, b in entries if frame_of.get(b) != frame)
    return edges


def _unpack(packed: bytes | None, kind: str) -> np.ndarray:
    """A packed big-endian array from SQL (`string_agg(int4send(...))`, NULL for none) as native int64/float64."""
    values = np.frombuffer(packed or b"", dtype=kind)
    return values.astype(np.float64 if kind.endswith("f8") else np.int64)


def _all_edges(
    kept: _KeptLists, as_is: np.ndarray, lists: Mapping[int, NeighbourList], frame_of: Mapping[int, tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges (face, neighbour, similarity arrays) of the kept lists used as they are and of `lists`; faces of one
    frame are never neighbours."""
    use = np.repeat(as_is, kept.counts)
    a, b, sim = np.repeat(kept.faces, kept.counts)[use], kept.neighbours[use], 1.0 - kept.distances[use]
    if a.size:
        faces = np.fromiter(frame_of, dtype=np.int64, count=len(frame_of))
        frames = np.array(list(frame_of.values()), dtype=np.int64).reshape(-1, 2)
        order = np.argsort(faces)
        faces, key = faces[order], (frames[order, 0] << 32) | frames[order, 1]
        apart = key[np.searchsorted(faces, a)] != key[np.searchsorted(faces, b)]  # both are candidates
        a, b, sim = a[apart], b[apart], sim[apart]
    more = list_edges(lists, frame_of)
    flat = np.fromiter(itertools.chain.from_iterable(more), dtype=np.float64, count=3 * len(more))
    return (
        np.concatenate([a, flat[0::3].astype(np.int64)]),
        np.concatenate([b, flat[1::3].astype(np.int64)]),
        np.concatenate([sim, flat[2::3]]),
    )


@dataclass(frozen=True)
class _KeptLists:
    """The lists the last run kept (table face_neighbours) as arrays: faces ascending, face i's entries (nearest first)
    at starts[i]:starts[i + 1] of `neighbours` and `distances`. Read as packed arrays (~700,000 entries at 100,000
    faces, no Python object per entry): a face's entries become a NeighbourList only when a re-run changes or
    rewrites that list; the others go to the clustering as arrays."""

    faces: np.ndarray
    clusters: np.ndarray  # the open cluster each face was left in, -1: none
    counts: np.ndarray
    starts: np.ndarray
    neighbours: np.ndarray
    distances: np.ndarray

    @classmethod
    def empty(cls) -> _KeptLists:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, np.zeros(1, dtype=np.int64), none, np.zeros(0))

    @classmethod
    def read(cls, conn: psycopg.Connection) -> _KeptLists:
        with conn.cursor(binary=True) as cur:
            faces, clusters, counts = (
                _unpack(v, ">i4") for v in cur.execute(read_sql("clusters/stored_faces.sql")).fetchone()
            )
            neighbours, distances = cur.execute(read_sql("clusters/stored_entries.sql")).fetchone()
        neighbours, distances = _unpack(neighbours, ">i4"), _unpack(distances, ">f8")
        if not (faces.size == clusters.size == counts.size and neighbours.size == distances.size == counts.sum()):
            raise RuntimeError("face_neighbours changed between reading its faces and its entries")
        return cls(faces, clusters, counts, np.r_[0, np.cumsum(counts)], neighbours, distances)

    def entries(self, index: int) -> NeighbourList:
        start, end = self.starts[index], self.starts[index + 1]
        return list(zip(self.distances[start:end].tolist(), self.neighbours[start:end].tolist()))

    def index(self, face: int) -> int:
        return int(np.searchsorted(self.faces, face))


def _params(config: ClusteringConfig, tail: Likelihood | None = None) -> dict:
    """What the stored state depends on: 'lists' (another value: a full run), 'clustering' (another value: the
    kept lists are clustered again; `tail`: the model whose impostor tail sets `pair_similarity`)."""
    return {
        "lists": {
            "version": NEIGHBOUR_LISTS_VERSION,
            "model": model_key(settings.model_name()),
            "similarity": config.similarity,
            "neighbours": config.neighbours,
            "ef_search": config.ef_search,
        },
        "clustering": {
            "min_faces": config.min_faces,
            "min_face_size": config.min_face_size,
            "min_score": config.min_score,
            "min_relative_sharpness": config.min_relative_sharpness,
            "max_false_pairs": config.max_false_pairs,
            "tail": describe_model(tail) if tail is not None else None,
        },
    }


def _track_groups(
    conn: psycopg.Connection, candidates: Sequence[int], frame_of: Mapping[int, tuple[int, int]]
) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """The candidates' track groups (sql/clusters/track_groups.sql) as arrays (face, track key: video id << 32 |
    track), and their digest as unchanged.sql computes it (the next run compares it with the tracks then)."""
    rows = conn.execute(
        with_fragments("clusters/track_links.sql", track_groups="clusters/track_groups.sql"),
        {"ids": list(candidates), "frames": [frame_of[f][1] for f in candidates]},
    ).fetchall()
    digest = hashlib.md5(",".join(f"{f}:{v}:{t}" for f, v, t in rows).encode()).hexdigest()
    grouped = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return (grouped[:, 0], (grouped[:, 1] << 32) | grouped[:, 2]), digest


def _save_lists(
    conn: psycopg.Connection, lists: Mapping[int, NeighbourList], cluster_of: Mapping[int, int], faces: Iterable[int]
) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY face_neighbours (face_id, neighbour_ids, distances, cluster_id) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["int4", "int4[]", "float8[]", "int4"])
        for face in faces:
            entries = lists[face]
            copy.write_row((face, [b for _, b in entries], [d for d, _ in entries], cluster_of.get(face)))


def cluster_faces(
    conn: psycopg.Connection,
    config: ClusteringConfig | None = None,
    *,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]] | None = None,
    log: Callable[[str], None] | None = None,
    full: bool = False,
) -> ClusteringResult:
    """Cluster the unknown faces and write clusters (one transaction on `conn`; the caller commits).

    A re-run starts from the neighbour lists the last run kept (table face_neighbours) and queries only what changed
    (see the notes above `neighbour_lists`); nothing changed (one statement, sql/clusters/unchanged.sql): nothing is
    fetched per face, queried or written. Another similarity, k,
    ef_search or model (or `full`): every list is queried again (a full run). Same clusters either way.
    `connect`: a factory of extra connections (e.g. PostgresResource.connect) to run the neighbour queries in
    parallel (`cluster_workers`); without it they run on `conn`.
    """
    if conn.autocommit:
        raise ValueError("cluster_faces needs a connection in a transaction (temporary tables, advisory lock)")
    say = log or (lambda message: None)
    started = time.perf_counter()
    lock_clusters(conn)
    ensure_schema(conn)
    config = config or ClusteringConfig.load(conn)
    result = ClusteringResult(config=config)
    k = config.neighbours

    tail = likelihood_model(conn, RecognitionConfig.load(conn))
    params = _params(config, tail)
    gates = {
        "min_face_size": config.min_face_size,
        "min_score": config.min_score,
        "min_relative_sharpness": config.min_relative_sharpness,
    }
    if not full:
        # Nothing changed: decided in one statement (sql/clusters/unchanged.sql), no row per face fetched.
        t = time.perf_counter()
        unchanged = with_fragments(
            "clusters/unchanged.sql", candidates="clusters/candidates.sql", track_groups="clusters/track_groups.sql"
        )
        check = conn.execute(unchanged, {**gates, "params": Jsonb(params)}).fetchone()
        if check is not None and check[0]:
            _, edges, unknown, gated, sizes = check
            # What a full run would find: the same lists, so the same clusters, each keeping its id.
            result.mode = "unchanged"
            result.method = "unchanged: no face, setting, link or track changed since the last run"
            result.unknown_faces = int(unknown)
            result.gated = {gate: int(n) for gate, n in gated.items()}
            result.candidates = result.unknown_faces - sum(result.gated.values())
            result.edges = int(edges or 0)
            result.sizes = {int(c): int(n) for c, n in sizes}
            result.kept_ids = sorted(result.sizes)
            result.clusters = len(result.sizes)
            result.clustered_faces = sum(result.sizes.values())
            result.unclustered_faces = result.candidates - result.clustered_faces
            result.seconds["check"] = time.perf_counter() - t
            result.seconds["total"] = time.perf_counter() - started
            say(
                f"{result.candidates} candidate faces, nothing changed since the last run: {result.clusters} "
                f"clusters kept as they are ({result.seconds['total']:.2f} s)"
            )
            return result
        result.seconds["check"] = time.perf_counter() - t

    changed = {r[0] for r in conn.execute(read_sql("clusters/take_changes.sql"))}
    rows = conn.execute(read_sql("clusters/candidates.sql"), gates).fetchall()
    result.unknown_faces = len(rows)
    result.gated = dict(Counter(gate for *_, gate in rows if gate is not None))
    candidates = [face_id for face_id, _, _, _, gate in rows if gate is None]
    frame_of = {face_id: (video, frame) for face_id, video, frame, _, gate in rows if gate is None}
    old_cluster_of = {face_id: old for face_id, _, _, old, gate in rows if gate is None and old is not None}
    result.candidates = len(candidates)
    links = dict(conn.execute(read_sql("clusters/links.sql")).fetchall())
    tracks, tracks_digest = _track_groups(conn, candidates, frame_of)
    links_digest, stored_params = conn.execute(read_sql("clusters/state_check.sql")).fetchone()
    result.seconds["candidates"] = time.perf_counter() - started

    t = time.perf_counter()
    incremental = not full and stored_params is not None and stored_params.get("lists") == params["lists"]

    stored_cluster: dict[int, int | None] = {}
    # Every candidate's list is either a kept one used as it is (`kept`, where `kept_as_is`) or in `lists` (queried,
    # trimmed or entered by this run, or read out of `kept` to be rewritten).
    kept, kept_as_is = _KeptLists.empty(), np.zeros(0, dtype=bool)
    lists: dict[int, NeighbourList] = {}
    touched: set[int] = set()  # faces whose stored row is rewritten
    gone: list[int] = []  # stored rows of faces that are no longer candidates (or changed)
    if incremental:
        valid = set(candidates).difference(changed)  # faces whose kept list (and place in others') still holds
        kept = _KeptLists.read(conn)
        valid_ids = np.fromiter(sorted(valid), dtype=np.int64, count=len(valid))
        face_valid = _positions(valid_ids, kept.faces)[1]
        owner = np.repeat(np.arange(kept.faces.size), kept.counts)
        lost = np.bincount(owner[~_positions(valid_ids, kept.neighbours)[1]], minlength=kept.faces.size)
        gone = kept.faces[~face_valid].tolist()
        # a full list that lost a face is queried again (its next nearest is not known); a shorter one is trimmed
        requery = kept.faces[face_valid & (lost > 0) & (kept.counts >= k)].tolist()
        for i in np.flatnonzero(face_valid & (lost > 0) & (kept.counts < k)).tolist():
            face = int(kept.faces[i])
            lists[face] = [(d, b) for d, b in kept.entries(i) if b in valid]
            touched.add(face)
        kept_as_is = face_valid & (lost == 0)
        stored_cluster = {f: (c if c >= 0 else None) for f, c in zip(kept.faces.tolist(), kept.clusters.tolist())}
        listed = set(kept.faces[kept_as_is].tolist()) | set(lists) | set(requery)
        new = [face for face in candidates if face not in listed]  # new or changed
        query = new + requery
        if len(query) > FULL_RUN_ABOVE * max(1, len(candidates)):
            say(f"{len(query)} of {len(candidates)} lists to query: a full run")
            incremental = False
            kept, kept_as_is = _KeptLists.empty(), np.zeros(0, dtype=bool)
    if incremental:
        result.mode = "incremental"
        new_set, query_set = set(new), set(query)
        ranges = 0
        with ExitStack() as stack:
            search = _SharedIndexSearch(conn, candidates, config, connect, stack, len(query)) if query else None
            found = search(query, FIRST_REACH * (k + 1)) if query else []
            lists.update(neighbour_lists(found, query, k))
            touched.update(query)
            # The kept lists a new face enters: those within the threshold of it (see the notes above).
            reach: dict[tuple[int, int], float] = {(f, a): d for f, a, d in found if f in new_set}
            hits = Counter(f for f, _ in reach)
            pending, limit = [f for f in new if hits[f] >= FIRST_REACH * (k + 1)], 4 * FIRST_REACH * (k + 1)
            while pending:
                ranges += len(pending)
                wider = search(pending, limit)
                reach.update(((f, a), d) for f, a, d in wider)
                hits = Counter(f for f, _, _ in wider)
                pending, limit = [f for f in pending if hits[f] >= limit], limit * 4
            method = search.method if search else "no query"
        entered = 0
        for (f, a), d in reach.items():
            if a != f and a not in query_set:
                if a not in lists:
                    lists[a] = kept.entries(kept.index(a))
                if enter_list(lists[a], d, f, k):
                    touched.add(a)
                    entered += 1
        result.queried = len(query)
        result.method = (
            f"incremental: {len(query)} lists queried ({len(new)} new or changed faces, {len(requery)} "
            f"full lists that lost a face), {ranges} wider ranges, {entered} kept lists entered, "
            f"{len(touched) - len(query)} kept lists updated; {method}"
        )
    else:
        result.mode = "full"
        total = conn.execute("SELECT count(*) FROM video_face_detections").fetchone()[0]
        found, method = find_neighbours(conn, candidates, config, connect, total) if candidates else ([], "none")
        lists = neighbour_lists(found, candidates, k)
        result.queried = len(candidates)
        result.method = method
    result.seconds["neighbours"] = time.perf_counter() - t
    kept_as_is &= ~_positions(np.fromiter(sorted(lists), dtype=np.int64, count=len(lists)), kept.faces)[1]
    a_id, b_id, sim = _all_edges(kept, kept_as_is, lists, frame_of)
    result.edges = int(a_id.size)
    say(
        f"{len(candidates)} candidate faces ({result.gated or 'none'} gated out): {result.edges} neighbour pairs in "
        f"{result.seconds['neighbours']:.1f} s ({result.method})"
    )

    t = time.perf_counter()
    clusters = _density_clusters(
        np.fromiter(candidates, dtype=np.int64, count=len(candidates)), a_id, b_id, sim, config.min_faces, links, tracks
    )
    result.pair_similarity = pair_similarity(len(candidates), config, tail)
    video_of = {face: video for face, (video, _) in frame_of.items()}
    clusters, waiting = judge_pairs(clusters, (a_id, b_id, sim), video_of, links, result.pair_similarity)
    result.pairs_waiting = len(waiting)
    carried = carry_over_ids(clusters, old_cluster_of)
    result.seconds["clustering"] = time.perf_counter() - t

    t = time.perf_counter()
    needed = sum(1 for c in carried if c is None)
    fresh = sorted(r[0] for r in conn.execute(read_sql("clusters/new_clusters.sql"), {"n": needed})) if needed else []
    fresh_iter = iter(fresh)
    cluster_ids = [old if old is not None else next(fresh_iter) for old in carried]
    result.kept_ids = sorted(c for c in carried if c is not None)
    result.new_ids = fresh

    face_ids: list[int] = []
    face_clusters: list[int] = []
    cluster_of: dict[int, int] = {}
    for cid, faces in zip(cluster_ids, clusters):
        face_ids.extend(faces)
        face_clusters.extend([cid] * len(faces))
        result.sizes[cid] = len(faces)
        cluster_of.update((face, cid) for face in faces)
    assign_started = time.perf_counter()
    moved = conn.execute(
        read_sql("clusters/assign_faces.sql"), {"ids": face_ids, "cluster_ids": face_clusters}
    ).fetchall()
    result.seconds["write_assign"] = time.perf_counter() - assign_started
    result.faces_moved = len(moved)
    changed_clusters = {c for _, old, new in moved for c in (old, new) if c is not None}

    open_before = [r[0] for r in conn.execute(read_sql("clusters/open_clusters.sql"))]
    survivors = set(cluster_ids)
    result.dissolved_ids = [c for c in open_before if c not in survivors]
    if result.dissolved_ids:
        conn.execute(read_sql("clusters/dissolve.sql"), {"ids": result.dissolved_ids})
    stats_started = time.perf_counter()
    if result.mode == "full":
        stats_ids = set(cluster_ids)
    else:
        # Only clusters whose faces changed: members moved, a member changed in place (score, embedding) or was
        # deleted (its stored row still names the cluster). A full run recomputes the others to the same values.
        stats_ids = changed_clusters | set(fresh) | {cluster_of[f] for f in changed if f in cluster_of}
        stats_ids |= {stored_cluster[f] for f in gone if stored_cluster.get(f) is not None}
        # and faces someone else moved since (review cluster merge): their clusters then and now
        stats_ids |= {
            c
            for f in candidates
            if old_cluster_of.get(f) != stored_cluster.get(f)
            for c in (old_cluster_of.get(f), stored_cluster.get(f))
            if c is not None
        }
        stats_ids &= survivors
    if stats_ids:
        update_cluster_stats(conn, stats_ids, changed_clusters)
    result.seconds["write_stats"] = time.perf_counter() - stats_started

    lists_started = time.perf_counter()
    if result.mode == "full":
        conn.execute("TRUNCATE face_neighbours")
        rewrite = candidates
    else:
        # kept lists used as they are whose face is now in another cluster: read out to be rewritten
        clustered = np.fromiter(cluster_of.keys(), dtype=np.int64, count=len(cluster_of))
        cluster_now = np.fromiter(cluster_of.values(), dtype=np.int64, count=len(cluster_of))
        order = np.argsort(clustered)
        index, found = _positions(clustered[order], kept.faces)
        now = np.full(kept.faces.size, -1, dtype=np.int64)
        now[found] = cluster_now[order][index[found]]
        for i in np.flatnonzero(kept_as_is & (now != kept.clusters)).tolist():
            lists[int(kept.faces[i])] = kept.entries(i)
        rewrite = sorted(touched | {f for f in lists if stored_cluster.get(f, -1) != cluster_of.get(f)})
        if gone or rewrite:
            conn.execute(read_sql("clusters/drop_lists.sql"), {"ids": gone + rewrite})
    _save_lists(conn, lists, cluster_of, rewrite)
    conn.execute(
        read_sql("clusters/save_state.sql"),
        {"params": Jsonb({**params, "edges": result.edges, "tracks": tracks_digest}), "links": links_digest},
    )
    result.seconds["write_lists"] = time.perf_counter() - lists_started
    result.lists_written = len(rewrite)

    result.clusters = len(cluster_ids)
    result.clustered_faces = len(face_ids)
    result.unclustered_faces = result.candidates - len(face_ids)
    result.seconds["write"] = time.perf_counter() - t
    result.seconds["total"] = time.perf_counter() - started
    say(
        f"{result.clusters} clusters ({len(result.kept_ids)} kept their id, {len(fresh)} new, "
        f"{len(result.dissolved_ids)} dissolved), {result.clustered_faces} faces clustered, "
        f"{result.unclustered_faces} not, {result.faces_moved} faces moved, {len(rewrite)} neighbour lists written; "
        f"{result.pairs_waiting} seen in two videos under {result.pair_similarity or 0:.3f} wait for a third"
    )
    return result


def update_cluster_stats(conn: psycopg.Connection, cluster_ids: Iterable[int], changed: Iterable[int] = ()) -> None:
    """size, n_videos, representative_detection_id (and updated_at) of these clusters, from their faces now."""
    conn.execute(
        read_sql("clusters/update_stats.sql"), {"ids": sorted(set(cluster_ids)), "changed": sorted(set(changed))}
    )
