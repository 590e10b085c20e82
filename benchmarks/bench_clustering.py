"""Stage `clustering`: cluster 100,000 unknown faces (issue 6).

Data (synthetic, face-like, in a scratch database with the project's real tables, see bench_matching): 8,000
identities x 10 samples + 20,000 noise faces (each its own identity), one watched directory, 2,000 videos, 5 sampled
frames per video (video_frames rows with a sharpness, none blurry), faces with match_status 'unmatched', quality_score
0.9, a 100x100 box, frame_index 0..4, so every face passes clustering's quality gates. A sample is its identity's
random unit centre + Gaussian noise, normalised: two samples of one identity have cosine ~0.7 (measured, reported),
different identities ~0. Face ids come in blocks of 50: 4 whole identities then 10 noise faces, so the faces with
id <= N are N/50 such blocks (whole identities and 20% noise, like the whole set). Each face sits in a random
(video, frame) slot (10 faces per frame). Rows go in with COPY (binary); the HNSW index idx_video_faces_embedding
(definition of sql/face/schema.sql) is built after the COPY (setup, not timed: in the pipeline it exists already).

OURS: face_assets.recognition.clustering.cluster_faces(conn, config, connect=...) as the face_clusters asset calls it
(ClusteringConfig.load for the fixture model pack, neighbour queries on `cluster_workers` parallel connections),
timed from the call to its return, then committed (commit timed apart). Each repetition runs on a fresh copy of the
loaded database (CREATE DATABASE ... TEMPLATE, untimed), so each is a first run from the same state. On the first
copy: the cluster quality, a re-run with nothing changed (a metric) and an EXPLAIN (ANALYZE, BUFFERS) of one
neighbour batch (where the neighbour search's time goes).
BASELINE: the seed's pairwise cross join over the unknown faces with id <= N:
  SELECT a.id, b.id, 1 - (a.embedding <=> b.embedding) FROM video_face_detections a CROSS JOIN
  video_face_detections b WHERE a.id < b.id AND a.id <= N AND b.id <= N AND <both unknown> AND
  1 - (a.embedding <=> b.embedding) > 0.7 ORDER BY 3 DESC LIMIT 100
at growing N (1k, 2k, 4k, ...) with statement_timeout 120 s, until one does not finish. The ratio is taken at the
largest N it finishes: the cross join there vs ours on a database holding just those N faces (same rows, same
schema, its own HNSW index). Ours on all 100,000 faces is the headline figure against the target (<= 120 s).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np

from benchmarks.bench_matching import (
    DIM,
    NOISE_SIGMA,
    copy_faces,
    create_real_schema,
    insert_videos,
    parallel_maintenance,
    same_identity_cosine,
    unit,
)
from benchmarks.harness import MODEL_NAME, StageResult, interleaved, median, say, scaled, scratch_database, timed

STAGE = "clustering"
TARGET_S = 120.0
TIMEOUT_S = 120  # the cross join's statement_timeout
# Why rows have fewer than MIN_REPETITIONS baseline repetitions (RESULTS.md shows it).
CROSS_JOIN_REPETITIONS = (
    "baseline: the cross join at the largest size it finishes, twice (each takes up to the statement timeout, "
    "and the growing sizes before it run once each); the targets are on ours alone (absolute seconds), not a ratio."
)
ONE_REFERENCE_RUN = (
    "baseline: one full run as a reference (minutes on 100,000 faces); the target is on ours alone (absolute "
    "seconds, or a share of that reference)."
)
VIDEOS = 2_000
FRAMES = 5
BLOCK_IDENTITIES, BLOCK_NOISE = 4, 10  # a block of ids: 4 identities' samples, then 10 noise faces

FULL = {
    "identities": 8_000,
    "samples": 10,
    "noise": 20_000,
    "videos": VIDEOS,
    "repetitions": 3,
    "subset_repetitions": 3,
    "baseline_repetitions": 2,
    "start_size": 1_000,
    "budget_s": 600,
    "rerun_repetitions": 3,
}
QUICK = {
    "identities": 24,
    "samples": 10,
    "noise": 60,
    "videos": 20,
    "repetitions": 1,
    "subset_repetitions": 2,
    "baseline_repetitions": 2,
    "start_size": 75,
    "budget_s": 60,
    "rerun_repetitions": 2,
}

HNSW_DDL = (
    "CREATE INDEX idx_video_faces_embedding ON video_face_detections"  # as in sql/face/schema.sql
    " USING hnsw ((embedding::halfvec(512)) halfvec_cosine_ops)"
)
UNKNOWN = "{t}.match_status = 'unmatched' AND {t}.decided_at IS NULL"
CROSS_JOIN = (
    "SELECT a.id, b.id, 1 - (a.embedding <=> b.embedding) AS similarity"
    " FROM video_face_detections a CROSS JOIN video_face_detections b"
    " WHERE a.id < b.id AND a.id <= %(n)s AND b.id <= %(n)s"
    f" AND {UNKNOWN.format(t='a')} AND {UNKNOWN.format(t='b')}"
    " AND 1 - (a.embedding <=> b.embedding) > 0.7"
    " ORDER BY 3 DESC LIMIT 100"
)


def make_data(cfg: dict[str, Any], seed: int = 23) -> dict[str, Any]:
    """Embeddings in id order, the identity of each face (-1: noise), its video and frame."""
    rng = np.random.default_rng(seed)
    k, s, noise = cfg["identities"], cfg["samples"], cfg["noise"]
    centres = unit(rng.standard_normal((k, DIM), dtype=np.float32))
    blocks = -(-k // BLOCK_IDENTITIES)
    per_block = np.diff(np.linspace(0, noise, blocks + 1).round().astype(int))
    identity: list[np.ndarray] = []
    for b in range(blocks):
        ids = np.arange(b * BLOCK_IDENTITIES, min(k, (b + 1) * BLOCK_IDENTITIES))
        identity += [np.repeat(ids, s), np.full(per_block[b], -1)]
    ident = np.concatenate(identity)
    n = ident.size
    emb = np.empty((n, DIM), dtype=np.float32)
    known = ident >= 0
    emb[known] = unit(
        centres[ident[known]] + NOISE_SIGMA * rng.standard_normal((int(known.sum()), DIM), dtype=np.float32)
    )
    emb[~known] = unit(rng.standard_normal((int((~known).sum()), DIM), dtype=np.float32))
    slots = rng.permutation(n) % (cfg["videos"] * FRAMES)  # (video, frame) slots, each holding ~n/(videos*5) faces
    first = np.flatnonzero(known)[::s][:1000]
    cos = same_identity_cosine(emb[first], emb[first + 1])
    return {
        "emb": emb,
        "identity": ident,
        "video_ids": slots // FRAMES + 1,
        "frame_indexes": slots % FRAMES,
        "cos_same": cos,
        "centres": centres,
    }


def make_new_faces(data: dict[str, Any], cfg: dict[str, Any], count: int, seed: int = 29) -> dict[str, Any]:
    """`count` faces more, like the set (80% new samples of existing identities, 20% noise), in random slots."""
    rng = np.random.default_rng(seed)
    known = int(round(count * 0.8))
    ident = np.concatenate([rng.integers(0, cfg["identities"], known), np.full(count - known, -1)])
    emb = unit(rng.standard_normal((count, DIM), dtype=np.float32))
    emb[:known] = unit(
        data["centres"][ident[:known]] + NOISE_SIGMA * rng.standard_normal((known, DIM), dtype=np.float32)
    )
    slots = rng.integers(0, cfg["videos"] * FRAMES, count)
    return {"emb": emb, "identity": ident, "video_ids": slots // FRAMES + 1, "frame_indexes": slots % FRAMES}


def build_database(conn, data: dict[str, Any], n: int, videos: int) -> dict[str, float]:
    """Real schema, videos, frames, faces 1..n (unmatched) and the HNSW index built after the COPY."""
    create_real_schema(conn)
    insert_videos(conn, videos)
    rng = np.random.default_rng(3)
    sharpness = (80 + 40 * rng.random(videos * FRAMES)).tolist()  # none below 0.25 x its video's median
    conn.execute(
        "INSERT INTO video_frames (video_id, frame_index, timestamp_seconds, path, width, height, sharpness)"
        " SELECT (i / %(f)s) + 1, i %% %(f)s, (i %% %(f)s) * 120.0, format('/frames/%%s.jpg', i), 1920, 1080, s"
        " FROM unnest(%(sharp)s::real[]) WITH ORDINALITY AS t(s, o), LATERAL (SELECT (o - 1)::int AS i) x",
        {"f": FRAMES, "sharp": sharpness},
    )
    conn.execute("DROP INDEX idx_video_faces_embedding")
    copy_s = copy_faces(conn, data["emb"][:n], data["video_ids"][:n], data["frame_indexes"][:n])
    parallel_maintenance(conn)
    index_s, _ = timed(lambda: conn.execute(HNSW_DDL))
    conn.execute("VACUUM ANALYZE")
    return {"copy_s": round(copy_s, 2), "hnsw_build_s": round(index_s, 1)}


@contextlib.contextmanager
def clone_of(template_url: str, file_copy: bool = False) -> Iterator[str]:
    """A copy of the database `template_url` (nobody may be connected to it), dropped afterwards.

    Every repetition of ours starts from such a copy: clustering writes cluster_ids, and a rolled-back UPDATE of
    80,000 rows would leave new tuple versions and HNSW index entries behind (the next repetition would not start
    from the same state)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from face_assets.db.embedded_postgres import with_database

    template = make_url(template_url).database
    name = f"{template[:40]}_c{uuid.uuid4().hex[:6]}"
    maintenance = with_database(template_url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        # FILE_COPY (a checkpoint, then a file copy) for a big database; WAL_LOG (no checkpoint) for a small one.
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY {}").format(
                sql.Identifier(name), sql.Identifier(template), sql.SQL("FILE_COPY" if file_copy else "WAL_LOG")
            )
        )
    try:
        yield with_database(template_url, name)
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def clustering_config(url: str):
    import psycopg

    from face_assets.recognition.clustering import ClusteringConfig

    with psycopg.connect(url) as conn:
        return ClusteringConfig.load(conn, model=MODEL_NAME)


def cluster_once(url: str, config, label: str, full: bool = False) -> tuple[float, Any, float]:
    """cluster_faces on `url` as the face_clusters asset runs it (a transaction, extra connections for the neighbour
    queries), committed: (seconds of the call, its ClusteringResult, seconds of the commit)."""
    import psycopg
    from pgvector.psycopg import register_vector

    from face_assets.defs.resources import PostgresResource
    from face_assets.recognition.clustering import cluster_faces

    resource = PostgresResource(url=url)
    with psycopg.connect(url) as conn:
        register_vector(conn)
        seconds, result = timed(
            lambda: cluster_faces(
                conn, config, connect=resource.connect, full=full, log=lambda m: say(f"    [{label}] {m}")
            )
        )
        commit_s, _ = timed(conn.commit)
    return seconds, result, commit_s


def explain_neighbours(url: str, config, batch: int) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of one neighbour batch (sql/clusters/neighbours.sql) on all faces, as
    find_neighbours runs it: where a neighbour query's time goes (buffer hits vs reads)."""
    import psycopg

    from face_assets.db.sql_files import read_sql
    from face_assets.recognition.clustering import _prepare_session

    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM video_face_detections ORDER BY id")]
        _prepare_session(conn, ids, config)
        step = max(1, len(ids) // batch)
        params = {"ids": ids[::step][:batch], "k": config.neighbours + 1, "similarity": config.similarity}
        plan = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + read_sql("clusters/neighbours.sql"), params
        ).fetchone()[0][0]
        shared_buffers = conn.execute("SHOW shared_buffers").fetchone()[0]
        sizes = conn.execute(
            "SELECT pg_relation_size('idx_video_faces_embedding'), pg_relation_size('video_face_detections'),"
            " (SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'video_face_detections')"
        ).fetchone()
        conn.rollback()
    top = plan["Plan"]
    faces = len(params["ids"])
    return {
        "faces": faces,
        "execution_ms": round(plan["Execution Time"], 1),
        "ms_per_face": round(plan["Execution Time"] / max(1, faces), 2),
        "shared_hit_blocks": top.get("Shared Hit Blocks"),
        "shared_read_blocks": top.get("Shared Read Blocks"),
        "shared_buffers": shared_buffers,
        "hnsw_index_mib": round(sizes[0] / 2**20, 1),
        "heap_mib": round(sizes[1] / 2**20, 1),
        "toast_mib": round((sizes[2] or 0) / 2**20, 1),
    }


def face_clusters_of(url: str) -> dict[int, int | None]:
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT id, cluster_id FROM video_face_detections").fetchall())


def neighbour_lists_of(url: str) -> dict[int, tuple[int, ...]]:
    """The kept neighbour lists (table face_neighbours) a run left: face -> neighbour ids, nearest first."""
    import psycopg

    with psycopg.connect(url) as conn:
        return {f: tuple(ids) for f, ids in conn.execute("SELECT face_id, neighbour_ids FROM face_neighbours")}


def exact_lists(emb: np.ndarray, faces: list[int], config) -> dict[int, tuple[int, ...]]:
    """What an exact search gives for these faces (ids are 1-based rows of `emb`, every face a candidate): the
    faces among its k + 1 nearest within the threshold, itself left out, nearest first; distances on float16 copies
    as the index's halfvec."""
    half = emb.astype(np.float16).astype(np.float32)
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    out: dict[int, tuple[int, ...]] = {}
    for i in range(0, len(faces), 256):
        chunk = faces[i : i + 256]
        dist = 1.0 - half[np.array(chunk) - 1] @ half.T
        top = np.argpartition(dist, config.neighbours + 1, axis=1)[:, : config.neighbours + 1]
        for row, face in enumerate(chunk):
            nearest = sorted(top[row].tolist(), key=lambda j: (dist[row, j], j))
            ids = [j + 1 for j in nearest if 1 - dist[row, j] >= config.similarity]
            out[face] = tuple(j for j in ids if j != face)[: config.neighbours]
    return out


def compare_with_exact(full_lists, inc_lists, emb: np.ndarray, config) -> dict[str, Any]:
    """Where the kept lists of the incremental run and of the full run differ, which one an exact search agrees
    with (both runs search an approximate HNSW index, ef_search 20; they ask it different questions: the full run
    each face's k + 1 nearest, the incremental run also every face within the threshold of a new face)."""
    differing = sorted(f for f in set(full_lists) | set(inc_lists) if full_lists.get(f) != inc_lists.get(f))
    exact = exact_lists(emb, differing, config)
    as_set = lambda t: set(t or ())  # noqa: E731
    return {
        "lists_differing": len(differing),
        "incremental_equal_to_exact": sum(1 for f in differing if inc_lists.get(f) == exact[f]),
        "full_equal_to_exact": sum(1 for f in differing if full_lists.get(f) == exact[f]),
        "incremental_neighbours_missed": sum(len(as_set(exact[f]) - as_set(inc_lists.get(f))) for f in differing),
        "full_neighbours_missed": sum(len(as_set(exact[f]) - as_set(full_lists.get(f))) for f in differing),
    }


def measure_reruns(
    url: str, data: dict[str, Any], cfg: dict[str, Any], config, n: int, first_rerun: tuple[float, Any]
) -> dict[str, Any]:
    """Re-runs on the clustered database `url` (issue 13). Nothing changed: ours (the kept lists; `first_rerun` and
    more) against a full re-run on the same state (every list queried again, full=True). Then 1% new faces (COPY,
    the HNSW index updated; not timed): ours (incremental) and a full run, each on a fresh copy of that state, and
    the clusters they left compared face by face."""
    import psycopg
    from pgvector.psycopg import register_vector

    reps = cfg["rerun_repetitions"]
    unchanged = [first_rerun] + [cluster_once(url, config, "re-run, nothing changed")[:2] for _ in range(reps - 1)]
    full_rerun_s, full_rerun, _ = cluster_once(url, config, "full re-run, nothing changed", full=True)
    say(
        f"[clustering] re-run with nothing changed: ours {[round(s, 3) for s, _ in unchanged]} s "
        f"({unchanged[0][1].mode}), a full re-run {full_rerun_s:.1f} s"
    )

    count = max(1, n // 100)
    extra = make_new_faces(data, cfg, count)
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        copy_s = copy_faces(conn, extra["emb"], extra["video_ids"], extra["frame_indexes"], first_id=n + 1)
        conn.execute("SELECT setval(pg_get_serial_sequence('video_face_detections', 'id'), %s)", (n + count,))
    big = n > 20_000
    with clone_of(url, file_copy=big) as full_url:
        full_s, full_result, _ = cluster_once(full_url, config, "full run, 1% new", full=True)
        expected = face_clusters_of(full_url)
        expected_lists = neighbour_lists_of(full_url)
    incremental: list[tuple[float, Any]] = []
    differing = exact = None
    for _i in range(reps):
        with clone_of(url, file_copy=big) as inc_url:
            seconds, result, _ = cluster_once(inc_url, config, "incremental, 1% new")
            incremental.append((seconds, result))
            if differing is None:
                got = face_clusters_of(inc_url)
                differing = sum(1 for face, cluster in expected.items() if got.get(face) != cluster)
                exact = compare_with_exact(
                    expected_lists, neighbour_lists_of(inc_url), np.concatenate([data["emb"][:n], extra["emb"]]), config
                )
    say(
        f"[clustering] 1% new ({count:,} faces): incremental {[round(s, 2) for s, _ in incremental]} s, full "
        f"{full_s:.1f} s; {differing} faces in another cluster than the full run's; lists against an exact "
        f"search: {exact}"
    )
    return {
        "unchanged_s": [s for s, _ in unchanged],
        "unchanged": unchanged[0][1],
        "full_rerun_s": full_rerun_s,
        "full_rerun": full_rerun,
        "new_faces": count,
        "new_copy_s": round(copy_s, 2),
        "incremental_s": [s for s, _ in incremental],
        "incremental": incremental[0][1],
        "full_new_s": full_s,
        "full_new": full_result,
        "faces_differing": differing,
        "exact": exact,
    }


def cross_join(url: str, n: int) -> list | None:
    """The seed's pairwise query on faces id <= n; None when it hits statement_timeout."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = '{TIMEOUT_S}s'")
        try:
            return conn.execute(CROSS_JOIN, {"n": n}).fetchall()
        except psycopg.errors.QueryCanceled:
            return None


def cluster_quality(url: str, identity: np.ndarray) -> dict[str, Any]:
    """How the committed clusters match the synthetic identities."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, cluster_id FROM video_face_detections ORDER BY id").fetchall()
    members: dict[int, list[int]] = defaultdict(list)  # cluster -> identities (-1: noise)
    clusters_of: dict[int, Counter] = defaultdict(Counter)  # identity -> cluster -> faces
    noise_clustered = 0
    for face_id, cluster in rows:
        ident = int(identity[face_id - 1])
        if cluster is None:
            continue
        members[cluster].append(ident)
        if ident < 0:
            noise_clustered += 1
        else:
            clusters_of[ident][cluster] += 1
    identities = sorted({int(i) for i in identity if i >= 0})
    samples = Counter(int(i) for i in identity if i >= 0)
    mixing = [c for c, ids in members.items() if len({i for i in ids if i >= 0}) > 1]
    with_noise = [c for c, ids in members.items() if any(i < 0 for i in ids)]
    pure = {c for c, ids in members.items() if len(set(ids)) == 1}
    whole = recovered = split = missed = 0
    for ident in identities:
        per = clusters_of.get(ident)
        if not per:
            missed += 1
            continue
        cluster, faces = per.most_common(1)[0]
        if len(per) > 1:
            split += 1
        if cluster in pure and faces >= 0.8 * samples[ident]:
            recovered += 1
        if cluster in pure and faces == samples[ident] and len(per) == 1:
            whole += 1
    noise = int((identity < 0).sum())
    return {
        "identities": len(identities),
        "identities_recovered": recovered,  # a pure cluster holds >= 80% of its faces
        "identities_recovered_share": recovered / max(1, len(identities)),
        "identities_whole": whole,  # all its faces, in one pure cluster
        "identities_split": split,  # faces in more than one cluster
        "identities_unclustered": missed,
        "clusters": len(members),
        "clusters_mixing_identities": len(mixing),
        "clusters_with_noise_faces": len(with_noise),
        "noise_faces": noise,
        "noise_clustered": noise_clustered,
        "noise_unclustered_share": 1 - noise_clustered / max(1, noise),
    }


def run(quick: bool = False) -> list[StageResult]:
    import psycopg

    cfg = dict(QUICK if quick else FULL)
    stage_started = time.perf_counter()
    data = make_data(cfg)
    identity = data["identity"]
    n = identity.size
    say(
        f"[clustering] {n:,} unknown faces: {cfg['identities']:,} identities x {cfg['samples']} + {cfg['noise']:,} "
        f"noise, {cfg['videos']:,} videos; same-identity cosine {data['cos_same']:.3f}"
    )

    with scratch_database("clustering") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            setup = build_database(conn, data, n, cfg["videos"])
        say(f"[clustering] setup: {setup}")
        config = clustering_config(url)

        # 1. The baseline at growing sizes, until it does not finish within the timeout (a size whose time,
        #    predicted from the last doubling's growth, is over 1.5 x the timeout is not run: reported as predicted).
        sizes_tried: list[dict[str, Any]] = []
        size, largest, largest_s, largest_rows = cfg["start_size"], None, None, None
        while True:
            size = min(size, n)
            if len(sizes_tried) >= 2 and sizes_tried[-2]["seconds"] > 0.5:
                growth = sizes_tried[-1]["seconds"] / sizes_tried[-2]["seconds"]
                predicted = sizes_tried[-1]["seconds"] * max(growth, 1.0)
                if predicted > 1.5 * TIMEOUT_S:
                    sizes_tried.append(
                        {
                            "faces": size,
                            "seconds": None,
                            "finished": False,
                            "run": False,
                            "predicted_s": round(predicted),
                            "pairs_compared": size * (size - 1) // 2,
                        }
                    )
                    say(
                        f"[clustering] cross join, {size:,} faces: not run, predicted ~{predicted:.0f} s "
                        f"(x{growth:.1f} per doubling) > 1.5 x the {TIMEOUT_S} s timeout"
                    )
                    break
            seconds, rows = timed(lambda size=size: cross_join(url, size))
            finished = rows is not None
            sizes_tried.append(
                {
                    "faces": size,
                    "seconds": round(seconds, 2),
                    "finished": finished,
                    "run": True,
                    "pairs_compared": size * (size - 1) // 2,
                }
            )
            say(
                f"[clustering] cross join, {size:,} faces: "
                + (f"{seconds:.1f} s" if finished else f"not finished within {TIMEOUT_S} s")
            )
            if not finished:
                break
            largest, largest_s, largest_rows = size, seconds, rows
            if size >= n:
                break
            size *= 2
        if largest is None:
            raise RuntimeError(f"the cross join did not finish within {TIMEOUT_S} s even at {cfg['start_size']} faces")

        # 2. Ours on the same subset (a database of just those faces, a fresh copy per repetition) vs more
        #    cross-join repetitions at that size.
        with scratch_database("clustering_subset") as subset_url:
            with psycopg.connect(subset_url, autocommit=True) as conn:
                subset_setup = build_database(conn, data, largest, cfg["videos"])
            subset_runs: list[Any] = []

            def ours_subset(i: int) -> float:
                with clone_of(subset_url) as copy_url:
                    seconds, result, _ = cluster_once(copy_url, config, f"ours {largest:,}")
                subset_runs.append((seconds, result))
                return seconds

            sub_s, more_base_s, _, more_base = interleaved(
                ours_subset,
                lambda i: cross_join(url, largest),
                cfg["subset_repetitions"],
                cfg["baseline_repetitions"] - 1,
                log=say,
            )
        # interleaved timed ours_subset as a whole (the database copy included): keep the cluster_faces call's.
        sub_s = [seconds for seconds, _ in subset_runs]
        if any(r is None for r in more_base):
            say("[clustering] a cross-join repetition did not finish within the timeout this time; left out")
        base_s = [largest_s] + [s for s, r in zip(more_base_s, more_base) if r is not None]
        ratio_subset = median(base_s) / median(sub_s)
        say(
            f"[clustering] at {largest:,} faces: cross join {median(base_s):.2f} s, ours {median(sub_s):.2f} s, "
            f"ratio {ratio_subset:.1f}x"
        )

        # 3. Ours on all faces, each repetition on a fresh copy of the database (a first run), committed; on the
        #    first copy also the cluster quality and a re-run with nothing changed. More repetitions only while
        #    the stage's time budget allows.
        ours_s: list[float] = []
        commits: list[float] = []
        first = rerun = explain = quality = None
        rerun_s = rerun_commit_s = None
        for i in range(cfg["repetitions"]):
            if ours_s and time.perf_counter() - stage_started + 1.2 * max(ours_s) > cfg["budget_s"]:
                say(
                    f"[clustering] {len(ours_s)} repetition(s) of ours at {n:,}: another would exceed the stage's "
                    f"~{cfg['budget_s'] // 60} min budget"
                )
                break
            with clone_of(url, file_copy=n > 20_000) as copy_url:
                seconds, result, commit_s = cluster_once(copy_url, config, f"ours {n:,}")
                ours_s.append(seconds)
                commits.append(commit_s)
                say(
                    f"  ours {n:,} #{i + 1}: {seconds:.1f} s (phases { ({k: round(v, 1) for k, v in result.seconds.items()}) })"
                )
                if first is None:
                    first = result
                    quality = cluster_quality(copy_url, identity)
                    say(f"[clustering] quality: {quality}")
                    rerun_s, rerun, rerun_commit_s = cluster_once(copy_url, config, f"re-run {n:,}")
                    say(f"[clustering] re-run with nothing changed: {rerun_s:.1f} s, {rerun.faces_moved} faces moved")
                    explain = explain_neighbours(copy_url, config, config.batch_size)
                    say(f"[clustering] one neighbour batch, EXPLAIN ANALYZE: {explain}")
                    reruns = measure_reruns(copy_url, data, cfg, config, n, (rerun_s, rerun))

    ours_med = median(ours_s)
    met = ours_med <= TARGET_S
    phases = {k: round(v, 2) for k, v in first.seconds.items()}
    conf = first.config
    tried = ", ".join(f"{t['faces']:,}" + ("" if t["run"] else " (predicted, not run)") for t in sizes_tried)
    stopped = sizes_tried[-1]
    if stopped["finished"]:
        stop_words = "it finished every size, up to all faces"
    elif stopped["run"]:
        stop_words = f"it did not finish {stopped['faces']:,} faces within {TIMEOUT_S} s"
    else:
        stop_words = (
            f"{stopped['faces']:,} faces were predicted at ~{stopped['predicted_s']} s from the growth per "
            "doubling and not run"
        )
    full_name = f"{STAGE}.100k" if n == 100_000 else f"{STAGE}.all"
    # The cross join compares every pair (ORDER BY ... LIMIT 100 needs them all): its time grows with the pairs.
    pairs_factor = (n * (n - 1) / 2) / (largest * (largest - 1) / 2)
    target = f"{n:,} faces clustered in <= {TARGET_S:g} s (ours)"
    common = (
        f"Cross join sizes: {tried} ({stop_words}; statement_timeout {TIMEOUT_S} s). The cross join only lists "
        "the 100 most similar pairs, it forms no cluster. Setup (COPY, HNSW build, database copies) is not "
        "timed."
    )
    base_phrase = (
        "the seed's pairwise CROSS JOIN (a.id < b.id, both unknown, similarity > 0.7, ORDER BY similarity "
        "DESC LIMIT 100)"
    )
    metrics = {
        "ours_100k_s": ours_med,
        "ours_phases_s": phases,
        "ours_commit_s": [round(c, 3) for c in commits],
        "ours_method": first.method,
        "ours_candidates": first.candidates,
        "ours_neighbour_pairs": first.edges,
        "ours_faces_written": first.faces_moved,
        "ours_clusters": first.clusters,
        "rerun_nothing_changed_s": round(rerun_s, 2),
        "rerun_phases_s": {k: round(v, 2) for k, v in rerun.seconds.items()},
        "rerun_commit_s": round(rerun_commit_s, 3),
        "rerun_faces_moved": rerun.faces_moved,
        "rerun_clusters_kept_id": len(rerun.kept_ids),
        "rerun_clusters_dissolved": len(rerun.dissolved_ids),
        "neighbour_batch_explain": explain,
        "ratio_at_same_size": ratio_subset,
        "same_size_faces": largest,
        "same_size_ours_s": [round(s, 3) for s in sub_s],
        "same_size_ours_median_s": median(sub_s),
        "same_size_ours_phases_s": {k: round(v, 2) for k, v in subset_runs[-1][1].seconds.items()},
        "same_size_baseline_s": [round(s, 3) for s in base_s],
        "same_size_ours_clusters": subset_runs[-1][1].clusters,
        "baseline_pairs_returned": len(largest_rows or []),
        "baseline_sizes_tried": sizes_tried,
        "baseline_statement_timeout_s": TIMEOUT_S,
        "baseline_extrapolation_factor_to_all_faces": pairs_factor,
        "quality": quality,
        "config": {k: getattr(conf, k) for k in conf.KEYS},
        "same_identity_cosine_mean": round(float(data["cos_same"]), 3),
        "setup": setup,
        "subset_setup": subset_setup,
    }
    data_sizes = {
        "identities": cfg["identities"],
        "samples_per_identity": cfg["samples"],
        "noise_faces": cfg["noise"],
        "videos": cfg["videos"],
        "dim": DIM,
    }
    same_size = StageResult(
        name=STAGE,
        sizes={"faces": largest, "of_faces": n, **data_sizes},
        ours=(
            f"cluster_faces (face_assets.recognition.clustering) as the face_clusters asset runs it, on a database "
            f"holding just the {largest:,} faces with id <= {largest:,} (same rows, same schema, own HNSW index; a "
            "fresh copy per repetition, committed)"
        ),
        baseline=(
            f"{base_phrase} on the faces with id <= {largest:,}: the largest size it finished within the "
            f"{TIMEOUT_S} s statement_timeout"
        ),
        ours_median_s=median(sub_s),
        baseline_median_s=median(base_s),
        repetitions={"ours": len(sub_s), "baseline": len(base_s)},
        target=target + f": ours took {ours_med:.1f} s on all {n:,} (row {full_name})",
        met=met,
        notes=(
            f"The ratio at the largest size the cross join finishes ({largest:,} faces), as issue 6 asks; ours on "
            f"all {n:,} faces is the row {full_name}. " + common
        ),
        metrics=metrics,
        ours_samples_s=sub_s,
        baseline_samples_s=base_s,
        repetitions_note=CROSS_JOIN_REPETITIONS,
        quick=quick,
    )
    full = StageResult(
        name=full_name,
        sizes={"faces": n, **data_sizes},
        ours=(
            f"cluster_faces (face_assets.recognition.clustering) on all {n:,} unknown faces, as the face_clusters "
            f"asset runs it: HNSW k-nearest neighbours ({first.method}), DBSCAN-like connected components, set-based writes; "
            "a first run, on a fresh copy of the loaded database per repetition, committed"
        ),
        baseline=(
            f"{base_phrase} EXTRAPOLATED to all {n:,} faces: its time at {largest:,} faces x {pairs_factor:,.0f} "
            "(the ratio of pairs" + ("; it cannot run at this size)" if largest < n else ")")
        ),
        ours_median_s=ours_med,
        baseline_median_s=median(base_s) * pairs_factor,
        repetitions={"ours": len(ours_s), "baseline": len(base_s)},
        target=target,
        met=met,
        notes=(
            f"Ours: {len(ours_s)} repetition(s) on all {n:,} faces (fewer than {cfg['repetitions']} when another "
            f"would exceed the stage's ~{cfg['budget_s'] // 60} min budget); seconds of the cluster_faces call, the "
            f"commit apart. Phases (s): {phases}. Re-run with nothing changed: {rerun_s:.1f} s "
            f"({rerun.faces_moved} faces moved). The baseline seconds are a quadratic EXTRAPOLATION (pairs) of "
            f"the cross join at {largest:,} faces, not a measurement. " + common
        ),
        metrics={
            "ours_phases_s": phases,
            "rerun_nothing_changed_s": round(rerun_s, 2),
            "quality": quality,
            "baseline_extrapolated_from_faces": largest,
            "baseline_extrapolation_factor": pairs_factor,
        },
        ours_samples_s=ours_s,
        baseline_samples_s=scaled(base_s, pairs_factor),
        repetitions_note=(
            f"ours: {cfg['repetitions']} runs on all {n:,} faces, fewer when another would exceed the stage's "
            f"~{cfg['budget_s'] // 60} min budget. " + CROSS_JOIN_REPETITIONS
        ),
        quick=quick,
    )
    return [same_size, full, *rerun_results(reruns, n, data_sizes, quick)]


def rerun_results(m: dict[str, Any], n: int, data_sizes: dict[str, Any], quick: bool) -> list[StageResult]:
    """Rows clustering.rerun and clustering.one_percent_new (issue 13)."""
    unchanged, inc, full_new = m["unchanged"], m["incremental"], m["full_new"]
    rerun_med, inc_med = median(m["unchanged_s"]), median(m["incremental_s"])
    phases = lambda r: {k: round(v, 3) for k, v in r.seconds.items()}  # noqa: E731
    rerun = StageResult(
        name=f"{STAGE}.rerun",
        sizes={"faces": n, **data_sizes},
        ours=(
            f"cluster_faces re-run on the {n:,} clustered faces with nothing changed: one SQL statement "
            "(sql/clusters/unchanged.sql) compares the candidates and their clusters with the kept state (table "
            "face_neighbours, settings, links, change log, cluster counts); nothing fetched per face, queried or "
            "written"
        ),
        baseline=(
            "the same re-run as a full run (cluster_faces(full=True): every face's neighbours queried again, "
            "as every re-run did before), same database, same process"
        ),
        ours_median_s=rerun_med,
        baseline_median_s=m["full_rerun_s"],
        repetitions={"ours": len(m["unchanged_s"]), "baseline": 1},
        target="re-run with nothing changed <= 1 s (ours)",
        met=rerun_med <= 1.0,
        notes=(
            f"Mode {unchanged.mode!r}; phases of ours (s): {phases(unchanged)}; of the full re-run: "
            f"{phases(m['full_rerun'])} ({m['full_rerun'].faces_moved} faces moved)."
        ),
        metrics={
            "ours_phases_s": phases(unchanged),
            "mode": unchanged.mode,
            "baseline_phases_s": phases(m["full_rerun"]),
            "baseline_faces_moved": m["full_rerun"].faces_moved,
        },
        ours_samples_s=m["unchanged_s"],
        baseline_samples_s=[m["full_rerun_s"]],
        repetitions_note=ONE_REFERENCE_RUN,
        quick=quick,
    )
    share = inc_med / m["full_new_s"]
    x = m.get("exact") or {}
    # Same clusters as a full run: equal with an exact search (tests, face_assets_tests/recognition/
    # test_incremental_clustering.py). Here both runs search an approximate index, so the row also accepts
    # differences that are the search's: where the kept lists differ, the incremental run's miss no more true
    # neighbours of an exact search than the full run's (the distance from the exact lists; how many lists are
    # equal to the exact ones is reported too, but a list one neighbour off counts there as much as one all wrong).
    same = m["faces_differing"] == 0
    approximation_only = bool(x) and x["incremental_neighbours_missed"] <= x["full_neighbours_missed"]
    exact_words = (
        f"Where the two runs' kept lists differ ({x.get('lists_differing')} faces), an exact search (numpy, "
        f"float16 copies like the index's halfvec) agrees with the incremental run's list for "
        f"{x.get('incremental_equal_to_exact')} and with the full run's for {x.get('full_equal_to_exact')}; "
        f"true neighbours missed: incremental {x.get('incremental_neighbours_missed')}, full "
        f"{x.get('full_neighbours_missed')}. "
    )
    one_percent = StageResult(
        name=f"{STAGE}.one_percent_new",
        sizes={"faces": n, "new_faces": m["new_faces"], **data_sizes},
        ours=(
            f"cluster_faces after {m['new_faces']:,} new faces (80% new samples of existing people, 20% noise): "
            "incremental, only the new faces queried (their lists, then the range each may enter) and the kept "
            "lists updated; all lists clustered again in memory; a fresh copy of the state per repetition"
        ),
        baseline="a full run (cluster_faces(full=True)) on a copy of the same state, same process",
        ours_median_s=inc_med,
        baseline_median_s=m["full_new_s"],
        repetitions={"ours": len(m["incremental_s"]), "baseline": 1},
        target=(
            "ours <= 10% of a full run, the same clusters (exact search: tests; here, with the approximate "
            "HNSW search, any difference must be the search's: the incremental lists no further from an exact "
            "search than the full run's, i.e. missing no more of its true neighbours)"
        ),
        met=share <= 0.10 and (same or approximation_only),
        notes=(
            f"Ours took {share:.1%} of the full run; faces in another cluster than the full run left them: "
            f"{m['faces_differing']} (the HNSW search is approximate in both; with an exact one they are equal, "
            f"see face_assets_tests/recognition/test_incremental_clustering.py). "
            + exact_words
            + f"{inc.method}. Phases of ours (s): {phases(inc)}; of the full run: {phases(full_new)}."
        ),
        metrics={
            "share_of_full_run": share,
            "faces_differing_from_full_run": m["faces_differing"],
            "ours_method": inc.method,
            "ours_phases_s": phases(inc),
            "baseline_phases_s": phases(full_new),
            "ours_lists_queried": inc.queried,
            "ours_lists_written": inc.lists_written,
            "new_faces_copy_s": m["new_copy_s"],
            "lists_against_exact_search": x,
        },
        ours_samples_s=m["incremental_s"],
        baseline_samples_s=[m["full_new_s"]],
        repetitions_note=ONE_REFERENCE_RUN,
        quick=quick,
    )
    return [rerun, one_percent]


def details_markdown(r: dict) -> str:
    m = r.get("metrics") or {}
    q = m.get("quality") or {}
    if r["name"] in (f"{STAGE}.rerun", f"{STAGE}.one_percent_new"):
        return f"Phases of ours (s): {m.get('ours_phases_s')}; of the full run: {m.get('baseline_phases_s')}.\n"
    if "baseline_sizes_tried" not in m:  # the row of ours on all faces: the details are under the main row
        return (
            f"Ours on all faces, phases (s): {m.get('ours_phases_s')}; re-run with nothing changed "
            f"{m.get('rerun_nothing_changed_s')} s. Details, quality and the cross join's sizes: see the "
            f"`{STAGE}` row above.\n"
        )
    x = m.get("neighbour_batch_explain") or {}
    lines = [
        f"- Ours on all {r['sizes'].get('of_faces', 0):,} faces: {m.get('ours_100k_s', 0):.1f} s; phases of the first "
        f"repetition (s): {m.get('ours_phases_s')}; {m.get('ours_candidates')} candidates, "
        f"{m.get('ours_neighbour_pairs')} neighbour pairs, {m.get('ours_faces_written')} cluster_ids written "
        f"({m.get('ours_method')}); commit {m.get('ours_commit_s')} s.",
        f"- Re-run with nothing changed: {m.get('rerun_nothing_changed_s')} s, phases {m.get('rerun_phases_s')}, "
        f"{m.get('rerun_faces_moved')} faces moved, {m.get('rerun_clusters_dissolved')} clusters dissolved.",
        f"- One neighbour batch of {x.get('faces')} faces (sql/clusters/neighbours.sql, EXPLAIN ANALYZE, BUFFERS, after "
        f"the runs): {x.get('ms_per_face')} ms per face, shared buffers hit {x.get('shared_hit_blocks')} / read "
        f"{x.get('shared_read_blocks')} blocks; shared_buffers {x.get('shared_buffers')}, HNSW index "
        f"{x.get('hnsw_index_mib')} MiB, heap {x.get('heap_mib')} MiB, TOAST {x.get('toast_mib')} MiB.",
        f"- Same size ({m.get('same_size_faces')} faces): cross join {m.get('same_size_baseline_s')} s vs ours "
        f"{m.get('same_size_ours_s')} s (phases {m.get('same_size_ours_phases_s')}): ratio "
        f"{m.get('ratio_at_same_size', 0):.1f}x.",
        "",
        f"Cross join at growing sizes (statement_timeout {m.get('baseline_statement_timeout_s')} s):",
        "",
        "| faces | pairs | seconds | finished |",
        "| --- | --- | --- | --- |",
    ]
    for t in m.get("baseline_sizes_tried") or []:
        seconds = t["seconds"] if t.get("run", True) else f"not run (predicted ~{t.get('predicted_s')})"
        lines.append(f"| {t['faces']:,} | {t['pairs_compared']:,} | {seconds} | {t['finished']} |")
    lines += [
        "",
        f"Cluster quality (synthetic truth): {q.get('identities_recovered')}/{q.get('identities')} identities recovered "
        f"(a pure cluster holds >= 80% of their faces; {q.get('identities_whole')} whole, {q.get('identities_split')} "
        f"split, {q.get('identities_unclustered')} unclustered); {q.get('clusters')} clusters, "
        f"{q.get('clusters_mixing_identities')} mixing identities, {q.get('clusters_with_noise_faces')} with a noise "
        f"face; noise faces left unclustered: {q.get('noise_unclustered_share', 0):.2%} of {q.get('noise_faces')}.",
        f"Config: {m.get('config')}. Setup (not timed): {m.get('setup')}.",
    ]
    return "\n".join(lines) + "\n"
