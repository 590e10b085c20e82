"""Clusters of unknown faces: recurring people who are not creators yet (asset `face_clusters`).

Which faces: those without a confirmed, auto-tagged or proposed creator (sql/clusters/candidates.sql: 'unmatched',
'rejected', or 'pending' with no candidate creator), across all videos, that pass the quality gates (box size,
detection score, a frame not much blurrier than the rest of its video). Faces of named or merged clusters are never
touched.

How (DBSCAN-like, scaling with an HNSW index instead of a pairwise join):
1. for every candidate face, its k nearest candidate faces through an HNSW index, one index scan per face (a LATERAL
   join over a batch of faces), kept when the cosine similarity is >= `cluster_similarity`; faces of the same frame
   are never neighbours (two faces in one frame are two people). Two ways, chosen by the candidates' share of all
   faces (`cluster_own_index_below`, see `find_neighbours`): the index of all faces filtered to the candidates
   (`hnsw.iterative_scan = relaxed_order`; batches in parallel connections), or, when candidates are few among many
   known faces, a temporary table of the candidates with its own HNSW index;
2. core faces have >= `cluster_min_faces` neighbours; clusters are the connected components of core faces
   (union-find), a border face joins the cluster of its most similar core neighbour, faces a person linked
   (`review cluster merge`, table face_cluster_links) stay together; everything else stays unclustered (NULL);
3. stable ids: a new cluster keeps the id of the open cluster it shares most faces with (greedy one-to-one matching
   by overlap, largest first), else gets a new id from the sequence; open clusters without a successor are
   'dissolved' with size 0. Ids are never reused.
4. set-based writes: video_face_detections.cluster_id from unnest() arrays (only rows whose cluster changes; HOT
   updates, see the fillfactor in sql/face/schema.sql), then size, n_videos and representative face of
   every touched cluster (sql/clusters/update_stats.sql).

Measured (benchmarks/bench_clustering.py, 2 cores, embedded PostgreSQL 18 with shared_buffers 1GB, pgvector
0.8.5): 100,000 unknown faces (8,000 people x 10 + 20,000 noise) clustered in ~53 s on a first run (neighbours 49 s
on 2 connections, writing 80,000 cluster_ids 3 s), every person but 4 recovered, no cluster mixing people, no
noise face clustered. What it took (from 829 s): shared_buffers above the HNSW index's size (the 128MB default
read index pages through the OS for every face), fillfactor 45 so that every cluster_id write is a HOT update
(416 s -> 1.6 s: no HNSW re-insertion), cluster statistics without a join planned on stale estimates (90 s -> 1 s),
ef_search 20 instead of 40 (84 s -> 49 s for the neighbours). The index is on `embedding::halfvec(512)` (130 MiB
instead of 260 MiB at 100,000 faces; 51.5 s, 7,999 of 8,000 people recovered). A re-run with nothing changed still
queries every face's neighbours (~45 s).

Settings (table face_recognition_config, `<model>.<key>` first, then `<key>`; absent: the per-model defaults below):
`cluster_similarity` (cosine similarity, like every threshold), `cluster_min_faces`, `cluster_neighbours`,
`cluster_min_face_size` (default: `min_face_size`), `cluster_min_score`, `cluster_min_relative_sharpness`,
`cluster_ef_search`, `cluster_workers`, `cluster_batch_size`, `cluster_own_index_below`.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields
from typing import Callable, Iterable, Mapping, Optional, Sequence

import psycopg

from face_assets import settings
from face_assets.recognition_config import RecognitionConfig, model_key
from face_assets.sql_files import read_sql

# One clustering (or cluster edit by review) at a time: transaction-level advisory lock on this key.
LOCK_KEY = "face_assets:face_clusters"

# Per model pack: the cosine similarity at or above which two faces are neighbours, coordinated with the similarity
# distributions (see face_assets.recognition_config.MODEL_DEFAULTS): with buffalo_sc (the fixture pack), different
# people measured at most 0.25 (99.9th percentile 0.21), one person's faces 0.40-0.78 (photos of one person in the
# fixture slideshows ~0.5-0.8). For buffalo_l InsightFace calls a pair "the same person" from 0.28. Clustering chains
# faces (A~B, B~C puts A and C together), so false links add up over a library: the threshold sits well above the
# different-person tail, at the low end of the same-person range.
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

    KEYS = {
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
    }

    @classmethod
    def for_model(cls, model: Optional[str] = None, recognition: Optional[RecognitionConfig] = None) -> "ClusteringConfig":
        """The defaults for a model pack (FACE_ASSETS_MODEL when None)."""
        recognition = recognition or RecognitionConfig()
        name = model_key(model or settings.model_name())
        return cls(
            similarity=MODEL_SIMILARITY.get(name, DEFAULT_SIMILARITY),
            min_face_size=float(recognition.min_face_size),
            min_score=max(0.6, float(recognition.min_detection_score)),
        )

    @classmethod
    def load(cls, conn: psycopg.Connection, model: Optional[str] = None) -> "ClusteringConfig":
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
    sizes: dict[int, int] = field(default_factory=dict)  # cluster id -> faces
    seconds: dict[str, float] = field(default_factory=dict)


# --- the algorithm, on plain ids (no database) ----------------------------------------------------------------------


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        root = parent.setdefault(x, x)
        while root != parent[root]:
            root = parent[root]
        while x != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


def density_clusters(
    ids: Iterable[int],
    edges: Iterable[tuple[int, int, float]],
    min_faces: int,
    links: Optional[Mapping[int, int]] = None,
) -> list[list[int]]:
    """Clusters (sorted lists of face ids, sorted by their smallest id) from the neighbour edges.

    `edges`: (face, neighbour, similarity) from each face's own k-nearest list, already cut at the similarity
    threshold. A face with >= `min_faces` distinct neighbours is a core face; core faces that are neighbours (in either
    direction) are in one cluster; a border face (not core, with a core neighbour in either direction) joins its most
    similar core neighbour's cluster. `links`: face id -> link group; faces of one group are kept together.
    Clusters have at least two faces; other faces are unclustered.
    """
    ids = set(ids)
    neighbours: dict[int, dict[int, float]] = defaultdict(dict)
    for a, b, sim in edges:
        if a == b or a not in ids or b not in ids:
            continue
        neighbours[a][b] = max(sim, neighbours[a].get(b, sim))
    core = {a for a, ns in neighbours.items() if len(ns) >= max(min_faces, 0)}
    if min_faces <= 0:
        core = set(ids)

    uf = _UnionFind()
    for a in core:
        uf.find(a)
        for b in neighbours.get(a, ()):
            if b in core:
                uf.union(a, b)

    # Border faces: the most similar core neighbour, looking both ways (b in a's list, or a in b's list).
    best: dict[int, tuple[float, int]] = {}
    for a, ns in neighbours.items():
        for b, sim in ns.items():
            if a in core and b not in core:
                pair = (sim, -a)
                if b not in best or pair > best[b]:
                    best[b] = pair
            if b in core and a not in core:
                pair = (sim, -b)
                if a not in best or pair > best[a]:
                    best[a] = pair
    members = set(core)
    for face, (_, neg_core) in best.items():
        uf.union(face, -neg_core)
        members.add(face)

    if links:
        groups: dict[int, list[int]] = defaultdict(list)
        for face, group in links.items():
            if face in ids:
                groups[group].append(face)
        for faces in groups.values():
            if len(faces) > 1:
                for other in faces[1:]:
                    uf.union(faces[0], other)
                members.update(faces)

    components: dict[int, list[int]] = defaultdict(list)
    for face in members:
        components[uf.find(face)].append(face)
    clusters = [sorted(c) for c in components.values() if len(c) >= 2]
    clusters.sort(key=lambda c: c[0])
    return clusters


def carry_over_ids(clusters: Sequence[Sequence[int]], old_cluster_of: Mapping[int, Optional[int]]) -> list[Optional[int]]:
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
    result: list[Optional[int]] = [None] * len(clusters)
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
    """Create the review/clustering bookkeeping tables (sql/review/schema.sql) if missing."""
    if conn.execute("SELECT to_regclass('face_cluster_links')").fetchone()[0] is None:
        conn.execute(read_sql("review/schema.sql"))


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
    conn: psycopg.Connection, batches: Sequence[Sequence[int]], config: ClusteringConfig, query_file: str
) -> list[tuple[int, int, float]]:
    query = read_sql(query_file)
    edges: list[tuple[int, int, float]] = []
    for batch in batches:
        params = {"ids": list(batch), "k": config.neighbours + 1, "similarity": config.similarity}
        # prepare=False: a generic plan (LIMIT and the array unknown) could abandon the index scan
        edges.extend(conn.execute(query, params, prepare=False).fetchall())
    return edges


def find_neighbours(
    conn: psycopg.Connection,
    candidate_ids: Sequence[int],
    config: ClusteringConfig,
    connect: Optional[Callable[[], AbstractContextManager[psycopg.Connection]]] = None,
    total_faces: Optional[int] = None,
) -> tuple[list[tuple[int, int, float]], str]:
    """(face, neighbour, similarity) edges through an HNSW index, and the method used.

    - 'shared index': the candidates are at least `own_index_below` of all faces (`total_faces`): the index of all
      faces, filtered to candidates (iterative scan); batches run in parallel over `connect()` connections if given;
    - 'own index': fewer candidates: a temporary table of them with its own HNSW index (built once, ~the cost of
      as many queries), then unfiltered nearest-neighbour queries on `conn`.
    """
    ids = list(candidate_ids)
    batches = [ids[i:i + config.batch_size] for i in range(0, len(ids), config.batch_size)]
    if total_faces and len(ids) < config.own_index_below * total_faces:
        _prepare_session(conn, ids, config)
        start = time.perf_counter()
        conn.execute(read_sql("clusters/own_index.sql"))
        built = time.perf_counter() - start
        edges = _neighbour_batches(conn, batches, config, "clusters/neighbours_own_index.sql")
        return edges, f"own index (built in {built:.1f} s)"

    workers = max(1, min(config.workers, len(batches)))
    if connect is None or workers == 1:
        _prepare_session(conn, ids, config)
        return _neighbour_batches(conn, batches, config, "clusters/neighbours.sql"), "shared index"

    def work(share: list[Sequence[int]]) -> list[tuple[int, int, float]]:
        with connect() as worker:
            _prepare_session(worker, ids, config)
            return _neighbour_batches(worker, share, config, "clusters/neighbours.sql")

    shares = [batches[w::workers] for w in range(workers)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="face-clusters") as pool:
        results = list(pool.map(work, shares))
    return [edge for part in results for edge in part], f"shared index, {workers} connections"


def cluster_faces(
    conn: psycopg.Connection,
    config: Optional[ClusteringConfig] = None,
    *,
    connect: Optional[Callable[[], AbstractContextManager[psycopg.Connection]]] = None,
    log: Optional[Callable[[str], None]] = None,
) -> ClusteringResult:
    """Re-cluster the unknown faces and write clusters (one transaction on `conn`; the caller commits).

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

    rows = conn.execute(
        read_sql("clusters/candidates.sql"),
        {
            "min_face_size": config.min_face_size,
            "min_score": config.min_score,
            "min_relative_sharpness": config.min_relative_sharpness,
        },
    ).fetchall()
    result.unknown_faces = len(rows)
    result.gated = dict(Counter(gate for *_, gate in rows if gate is not None))
    candidates = [face_id for face_id, _, _, _, gate in rows if gate is None]
    old_cluster_of = {face_id: old for face_id, _, _, old, gate in rows if gate is None and old is not None}
    result.candidates = len(candidates)
    links = dict(conn.execute(read_sql("clusters/links.sql")).fetchall())
    result.seconds["candidates"] = time.perf_counter() - started

    t = time.perf_counter()
    total = conn.execute("SELECT count(*) FROM video_face_detections").fetchone()[0]
    edges, result.method = find_neighbours(conn, candidates, config, connect, total) if candidates else ([], "none")
    result.edges = len(edges)
    result.seconds["neighbours"] = time.perf_counter() - t
    say(f"{len(candidates)} candidate faces of {total} ({result.gated or 'none'} gated out): {len(edges)} neighbour "
        f"pairs in {result.seconds['neighbours']:.1f} s ({result.method})")

    t = time.perf_counter()
    clusters = density_clusters(candidates, edges, config.min_faces, links)
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
    for cid, faces in zip(cluster_ids, clusters):
        face_ids.extend(faces)
        face_clusters.extend([cid] * len(faces))
        result.sizes[cid] = len(faces)
    assign_started = time.perf_counter()
    moved = conn.execute(
        read_sql("clusters/assign_faces.sql"), {"ids": face_ids, "cluster_ids": face_clusters}
    ).fetchall()
    result.seconds["write_assign"] = time.perf_counter() - assign_started
    result.faces_moved = len(moved)
    changed = {c for _, old, new in moved for c in (old, new) if c is not None}

    open_before = [r[0] for r in conn.execute(read_sql("clusters/open_clusters.sql"))]
    survivors = set(cluster_ids)
    result.dissolved_ids = [c for c in open_before if c not in survivors]
    if result.dissolved_ids:
        conn.execute(read_sql("clusters/dissolve.sql"), {"ids": result.dissolved_ids})
    stats_started = time.perf_counter()
    if cluster_ids:
        update_cluster_stats(conn, cluster_ids, changed)
    result.seconds["write_stats"] = time.perf_counter() - stats_started
    result.clusters = len(cluster_ids)
    result.clustered_faces = len(face_ids)
    result.unclustered_faces = result.candidates - len(face_ids)
    result.seconds["write"] = time.perf_counter() - t
    result.seconds["total"] = time.perf_counter() - started
    say(f"{result.clusters} clusters ({len(result.kept_ids)} kept their id, {len(fresh)} new, "
        f"{len(result.dissolved_ids)} dissolved), {result.clustered_faces} faces clustered, "
        f"{result.unclustered_faces} not, {result.faces_moved} faces moved")
    return result


def update_cluster_stats(conn: psycopg.Connection, cluster_ids: Iterable[int], changed: Iterable[int] = ()) -> None:
    """size, n_videos, representative_detection_id (and updated_at) of these clusters, from their faces now."""
    conn.execute(
        read_sql("clusters/update_stats.sql"), {"ids": sorted(set(cluster_ids)), "changed": sorted(set(changed))}
    )
