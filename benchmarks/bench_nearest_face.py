"""Stage `nearest_face`: the nearest stored face to one query embedding, HNSW (tuned) vs an exact scan.

Data: 100,000 face-like embeddings, 10,000 identities x 10 noisy samples: a random unit centre per identity plus
Gaussian noise, normalised, so two samples of one identity have cosine similarity ~0.7 (measured and reported) and
different identities ~0. They go, with COPY (binary, pgvector's psycopg adapter), into a table shaped like
video_face_detections (id, video_id, match_status, embedding vector(512)). Queries: 200 fresh noisy samples of
existing identities.

OURS: an HNSW index and `ORDER BY <distance> LIMIT 1`, for a few (storage, m, ef_construction, hnsw.ef_search)
settings; the reported one is the fastest setting whose recall@1 is >= 0.99. The `halfvec` storage is the schema's
(sql/face/schema.sql indexes `embedding::halfvec(512)` with halfvec_cosine_ops, m 16, ef_construction 64); the
`vector` row shows what it replaced.
BASELINE: the same query with index scans disabled (`enable_indexscan = off`): an exact (possibly parallel) scan.
recall@1 = share of queries whose HNSW answer is the exact scan's answer (same id).

A second result, `nearest_face.filtered`, does the same among the 10% of faces with match_status = 'manual',
with pgvector 0.8's `hnsw.iterative_scan = relaxed_order` (and a materialised CTE to restore strict order).
Index build time is reported, not counted in the latency.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.harness import StageResult, load_average, median, percentile, say, scratch_database, timed

STAGE = "nearest_face"
DIM = 512
TARGET_P50_MS = 5.0
TARGET_RECALL = 0.99
MANUAL_SHARE = 0.10  # share of rows with match_status 'manual' (the filtered query's candidates)
MATCH_THRESHOLD = 0.5  # the seeded match_threshold (cosine similarity)

# An index to try: (storage, m, ef_construction). `vector` indexes the column as it is (sql/face/schema.sql today);
# `halfvec` indexes the expression embedding::halfvec(512) (half the size, and pgvector's half-precision distance
# uses F16C/AVX here), queried with `embedding::halfvec(512) <=> q::halfvec(512)`.
FULL = {
    "identities": 10_000,
    "samples": 10,
    "queries": 200,
    "passes": 3,
    "baseline_queries": 40,
    "baseline_passes": 2,
    "builds": [("vector", 16, 64), ("halfvec", 16, 64), ("halfvec", 16, 128)],
    "ef_search": [32, 40, 64, 100],
}
QUICK = {
    "identities": 200,
    "samples": 5,
    "queries": 20,
    "passes": 2,
    "baseline_queries": 10,
    "baseline_passes": 2,
    "builds": [("vector", 16, 64)],
    "ef_search": [40],
}

# Noise per dimension so that two samples of one identity have cosine ~0.7: cos = 1 / (1 + 512 sigma^2).
NOISE_SIGMA = float(np.sqrt((1 / 0.7 - 1) / DIM))


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_embeddings(identities: int, samples: int, queries: int, seed: int = 7):
    """(embeddings (n, 512), identity of each row, queries (q, 512), identity of each query)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((identities, DIM), dtype=np.float32))
    ident = np.repeat(np.arange(identities), samples)
    emb = unit(centres[ident] + NOISE_SIGMA * rng.standard_normal((ident.size, DIM), dtype=np.float32))
    q_ident = rng.integers(0, identities, size=queries)
    q = unit(centres[q_ident] + NOISE_SIGMA * rng.standard_normal((queries, DIM), dtype=np.float32))
    return emb, ident, q, q_ident


def same_identity_cosine(emb: np.ndarray, ident: np.ndarray, samples: int, n: int = 2000) -> dict[str, float]:
    """Mean cosine between two samples of one identity, and between samples of different identities."""
    rng = np.random.default_rng(1)
    first = rng.integers(0, emb.shape[0] // samples, size=n) * samples
    same = np.einsum("ij,ij->i", emb[first], emb[first + rng.integers(1, samples, size=n)])
    other = np.einsum("ij,ij->i", emb[first], emb[rng.integers(0, emb.shape[0], size=n)])
    return {
        "same_identity_mean": float(same.mean()),
        "same_identity_p05": float(np.percentile(same, 5)),
        "same_identity_p95": float(np.percentile(same, 95)),
        "different_identity_mean": float(other.mean()),
    }


def load_table(conn, emb: np.ndarray, seed: int = 11) -> float:
    """CREATE + COPY (binary) the faces table; returns seconds."""
    from pgvector.psycopg import register_vector

    rng = np.random.default_rng(seed)
    status = np.where(rng.random(emb.shape[0]) < MANUAL_SHARE, "manual", "matched")
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    conn.execute("DROP TABLE IF EXISTS faces")
    conn.execute(
        "CREATE TABLE faces (id integer PRIMARY KEY, video_id integer NOT NULL, match_status text NOT NULL,"
        " embedding vector(512) NOT NULL)"
    )

    def copy():
        with (
            conn.cursor() as cur,
            cur.copy("COPY faces (id, video_id, match_status, embedding) FROM STDIN WITH (FORMAT BINARY)") as cp,
        ):
            cp.set_types(["int4", "int4", "text", "vector"])
            for i in range(emb.shape[0]):
                cp.write_row((i + 1, i // 4 + 1, str(status[i]), emb[i]))

    seconds, _ = timed(copy)
    conn.execute("VACUUM ANALYZE faces")
    return seconds


def build_index(conn, storage: str, m: int, ef_construction: int) -> float:
    conn.execute("DROP INDEX IF EXISTS faces_embedding_hnsw")
    conn.execute("SET maintenance_work_mem = '2GB'")  # the whole graph in memory: no slow on-disk phase
    # The leader works too: leader + (cores - 1) workers keep every core busy, no more.
    conn.execute(f"SET max_parallel_maintenance_workers = {max(0, (os.cpu_count() or 2) - 1)}")
    column = "embedding vector_cosine_ops" if storage == "vector" else "(embedding::halfvec(512)) halfvec_cosine_ops"
    seconds, _ = timed(
        lambda: conn.execute(
            f"CREATE INDEX faces_embedding_hnsw ON faces USING hnsw ({column})"
            f" WITH (m = {m}, ef_construction = {ef_construction})"
        )
    )
    conn.execute("ANALYZE faces")
    return seconds


def distance(storage: str) -> str:
    return "embedding <=> %(q)s" if storage == "vector" else "embedding::halfvec(512) <=> %(q)s::halfvec(512)"


def nearest(storage: str) -> str:
    return f"SELECT id FROM faces ORDER BY {distance(storage)} LIMIT 1"


def nearest_filtered(storage: str) -> str:
    # Relaxed order may return the k nearest slightly out of order: re-sort a few of them (pgvector's advice).
    return (
        f"WITH c AS MATERIALIZED (SELECT id, {distance(storage)} AS d FROM faces WHERE match_status = 'manual'"
        " ORDER BY d LIMIT 10) SELECT id FROM c ORDER BY d LIMIT 1"
    )


NEAREST_EXACT = nearest("vector")
NEAREST_FILTERED_EXACT = "SELECT id FROM faces WHERE match_status = 'manual' ORDER BY embedding <=> %(q)s LIMIT 1"


def run_queries(conn, query: str, queries: np.ndarray) -> tuple[list[float], list[int]]:
    """(seconds per query, client-side: execute + fetch; answer id per query)."""
    import time

    seconds, ids = [], []
    with conn.cursor() as cur:
        for q in queries:
            t = time.perf_counter()
            cur.execute(query, {"q": q}, prepare=True)
            row = cur.fetchone()
            seconds.append(time.perf_counter() - t)
            ids.append(row[0] if row else -1)
    return seconds, ids


def session(conn, *, exact: bool, ef_search: int = 40, iterative: bool = False) -> None:
    conn.execute("SET enable_seqscan = on")
    conn.execute(f"SET enable_indexscan = {'off' if exact else 'on'}")
    conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
    conn.execute(f"SET hnsw.iterative_scan = {'relaxed_order' if iterative else 'off'}")


def plan_uses_index(conn, query: str, q: np.ndarray) -> bool:
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, {"q": q}).fetchall())
    return "faces_embedding_hnsw" in plan


def use_index(conn, query: str, q: np.ndarray, forced: list[str], label: str) -> None:
    """Make sure `query` runs on the HNSW index; the planner prefers a scan on small tables (quick sizes)."""
    if plan_uses_index(conn, query, q):
        return
    conn.execute("SET enable_seqscan = off")
    forced.append(label)
    if not plan_uses_index(conn, query, q):
        raise RuntimeError(f"the HNSW index is not used by: {query}")


@dataclass
class Trial:
    storage: str
    m: int
    ef_construction: int
    ef_search: int
    p50_ms: float
    p95_ms: float
    recall_at_1: float  # same answer as the exact scan, all queries
    recall_answerable: float  # same, among queries whose exact answer is a match (cosine >= MATCH_THRESHOLD)
    build_s: float
    passes_p50_s: list[float] = field(default_factory=list)
    load: float | None = None  # 1-minute load average when the trial started (the machine may be shared)


def _passes(conn, query, queries, n) -> tuple[list[float], list[float], list[int]]:
    """n passes over all queries; returns (p50 of each pass, all latencies, answers of the last pass)."""
    p50s, everything, ids = [], [], []
    for _ in range(n):
        s, ids = run_queries(conn, query, queries)
        p50s.append(percentile(s, 50))
        everything += s
    return p50s, everything, ids


def run(quick: bool = False) -> list[StageResult]:
    import psycopg

    cfg = dict(QUICK if quick else FULL)
    emb, ident, queries, _q_ident = make_embeddings(cfg["identities"], cfg["samples"], cfg["queries"])
    cos = same_identity_cosine(emb, ident, cfg["samples"])
    n = emb.shape[0]
    say(
        f"[nearest_face] {n:,} embeddings ({cfg['identities']:,} identities x {cfg['samples']}), "
        f"same-identity cosine {cos['same_identity_mean']:.3f}, {len(queries)} queries"
    )

    with scratch_database("nearest") as url, psycopg.connect(url, autocommit=True) as conn:
        copy_s = load_table(conn, emb)
        say(f"[nearest_face] COPY of {n:,} rows: {copy_s:.1f} s")
        manual = np.array(
            [r[0] for r in conn.execute("SELECT id FROM faces WHERE match_status = 'manual' ORDER BY id").fetchall()]
        )

        # The exact answers, by brute force in numpy (float32) for every query; the SQL exact scan, timed as the
        # baseline on the first `baseline_queries` (it takes about a second each at 100k), must agree with it.
        sims = queries @ emb.T
        truth = np.argmax(sims, axis=1) + 1
        msims = sims[:, manual - 1]
        ftruth = manual[np.argmax(msims, axis=1)]
        answerable = msims.max(axis=1) >= MATCH_THRESHOLD
        sub = queries[: cfg["baseline_queries"]]
        session(conn, exact=True)
        run_queries(conn, NEAREST_EXACT, sub[:3])  # warm-up
        base_p50s, base_all, exact_ids = _passes(conn, NEAREST_EXACT, sub, cfg["baseline_passes"])
        say(f"[nearest_face] exact scan: p50 {median(base_p50s) * 1e3:.1f} ms")
        fbase_p50s, fbase_all, fexact_ids = _passes(conn, NEAREST_FILTERED_EXACT, sub, cfg["baseline_passes"])
        say(f"[nearest_face] exact scan, filtered: p50 {median(fbase_p50s) * 1e3:.1f} ms")
        sql_vs_numpy = float(np.mean(np.array(exact_ids) == truth[: len(sub)]))
        fsql_vs_numpy = float(np.mean(np.array(fexact_ids) == ftruth[: len(sub)]))

        trials: list[Trial] = []
        ftrials: list[Trial] = []
        builds = {}
        forced: list[str] = []
        for storage, m, efc in cfg["builds"]:
            build_s = build_index(conn, storage, m, efc)
            size = conn.execute("SELECT pg_relation_size('faces_embedding_hnsw')").fetchone()[0]
            label = f"{storage} m={m} ef_construction={efc}"
            builds[label] = {"build_s": round(build_s, 1), "index_mib": round(size / 2**20, 1)}
            say(f"[nearest_face] HNSW {label}: built in {build_s:.1f} s, {size / 2**20:.0f} MiB")
            for efs in cfg["ef_search"]:
                for filtered in (False, True):
                    query = nearest_filtered(storage) if filtered else nearest(storage)
                    session(conn, exact=False, ef_search=efs, iterative=filtered)
                    use_index(
                        conn, query, queries[0], forced, f"{label} ef_search={efs}{' filtered' if filtered else ''}"
                    )
                    run_queries(conn, query, queries)  # warm-up: index pages into the cache
                    load = load_average()
                    p50s, alls, ids = _passes(conn, query, queries, cfg["passes"])
                    ids = np.array(ids)
                    ok = ids == (ftruth if filtered else truth)
                    t = Trial(
                        storage,
                        m,
                        efc,
                        efs,
                        median(p50s) * 1e3,
                        percentile(alls, 95) * 1e3,
                        float(np.mean(ok)),
                        float(np.mean(ok[answerable])) if filtered else float(np.mean(ok)),
                        build_s,
                        p50s,
                        load,
                    )
                    (ftrials if filtered else trials).append(t)
                    say(
                        f"    ef_search={efs:<4}{' filtered' if filtered else '         '} p50 {t.p50_ms:6.2f} ms  "
                        f"p95 {t.p95_ms:6.2f} ms  recall@1 {t.recall_at_1:.3f}"
                        + (f" (answerable {t.recall_answerable:.3f})" if filtered else "")
                    )

    def best(ts: list[Trial]) -> Trial:
        good = [t for t in ts if t.recall_answerable >= TARGET_RECALL]
        return min(good, key=lambda t: t.p50_ms) if good else max(ts, key=lambda t: (t.recall_answerable, -t.p50_ms))

    def table(ts: list[Trial]) -> list[dict[str, Any]]:
        return [
            {
                "storage": t.storage,
                "m": t.m,
                "ef_construction": t.ef_construction,
                "ef_search": t.ef_search,
                "p50_ms": round(t.p50_ms, 3),
                "p95_ms": round(t.p95_ms, 3),
                "recall_at_1": t.recall_at_1,
                "recall_answerable": t.recall_answerable,
                "build_s": round(t.build_s, 1),
                "load": t.load,
            }
            for t in ts
        ]

    sizes = {
        "vectors": n,
        "identities": cfg["identities"],
        "samples_per_identity": cfg["samples"],
        "dim": DIM,
        "queries": len(queries),
        "baseline_queries": len(sub),
    }
    common = {
        "same_identity_cosine": cos,
        "copy_s": round(copy_s, 2),
        "index_builds": builds,
        "index_forced_with_enable_seqscan_off": forced,
    }
    results = []
    for name, ts, b_p50s, b_all, agreement, where in (
        (STAGE, trials, base_p50s, base_all, sql_vs_numpy, "all faces"),
        (
            f"{STAGE}.filtered",
            ftrials,
            fbase_p50s,
            fbase_all,
            fsql_vs_numpy,
            f"faces with match_status = 'manual' ({MANUAL_SHARE:.0%} of rows)",
        ),
    ):
        b = best(ts)
        base_p50 = median(b_p50s)
        ours_p50 = median(b.passes_p50_s)
        filtered = name != STAGE
        met = ours_p50 * 1e3 <= TARGET_P50_MS and b.recall_answerable >= TARGET_RECALL
        recall_words = (
            f"recall@1 counted on the {int(answerable.sum())} queries whose exact answer is a match "
            f"(cosine >= {MATCH_THRESHOLD}); where the query's identity has no manual face, the nearest "
            "manual face is an unrelated one at cosine ~0.1 and any of many is almost as near: "
            f"recall@1 over all queries {b.recall_at_1:.3f}. "
            if filtered
            else ""
        )
        results.append(
            StageResult(
                name=name,
                sizes=sizes,
                ours=(
                    f"HNSW on {b.storage} (m={b.m}, ef_construction={b.ef_construction}, hnsw.ef_search={b.ef_search})"
                    + (", hnsw.iterative_scan = relaxed_order" if filtered else "")
                    + f", {where}"
                ),
                baseline=f"the same query with enable_indexscan = off (exact scan of the vector column), {where}",
                ours_median_s=ours_p50,
                baseline_median_s=base_p50,
                repetitions={"ours": len(b.passes_p50_s), "baseline": len(b_p50s)},
                target=f"p50 <= {TARGET_P50_MS:g} ms and recall@1 >= {TARGET_RECALL} (vs the exact answer)",
                met=met,
                notes=(
                    f"Medians are of the p50 latency (client side: execute + fetch, prepared) of each pass over the "
                    f"{len(queries)} queries (baseline: over the first {len(sub)}, an exact scan being slow); "
                    f"ratio = exact p50 / HNSW p50. Chosen setting: the fastest with recall@1 >= {TARGET_RECALL}. "
                    f"{recall_words}Exact answers by numpy brute force; the SQL exact scan agrees on {agreement:.0%} "
                    "of the queries it ran. Index build time is in the details, not in the latency."
                ),
                metrics={
                    "ours_p50_ms": ours_p50 * 1e3,
                    "ours_p95_ms": b.p95_ms,
                    "recall_at_1": b.recall_answerable,
                    "recall_at_1_all_queries": b.recall_at_1,
                    "baseline_p50_ms": base_p50 * 1e3,
                    "baseline_p95_ms": percentile(b_all, 95) * 1e3,
                    "exact_sql_vs_numpy_top1_agreement": agreement,
                    "tuning": table(ts),
                    **common,
                },
                ours_samples_s=b.passes_p50_s,
                baseline_samples_s=b_p50s,
                repetitions_note=(
                    f"baseline: {len(b_p50s)} passes over a subset of the queries (an exact scan takes about half a "
                    "second a query); it is the reference for recall, and the target is absolute (p50, recall@1), "
                    "not a ratio."
                ),
                quick=quick,
            )
        )
    return results


def details_markdown(r: dict) -> str:
    m = r.get("metrics") or {}
    cos = m.get("same_identity_cosine") or {}
    if r.get("name", "").endswith(".filtered"):  # data and index builds: see the unfiltered result above
        lines = ["Same table and indexes as above; the query keeps the faces with match_status = 'manual'.", ""]
        return "\n".join(lines + _tuning_lines(m)) + "\n"
    lines = [
        f"Data: same-identity cosine mean {cos.get('same_identity_mean', 0):.3f} (5-95%: "
        f"{cos.get('same_identity_p05', 0):.3f}-{cos.get('same_identity_p95', 0):.3f}), different identities "
        f"{cos.get('different_identity_mean', 0):.3f}. COPY (binary) of the table: {m.get('copy_s')} s. "
        f"Exact SQL scan vs numpy brute force, top-1 agreement: {m.get('exact_sql_vs_numpy_top1_agreement')}.",
        "",
        "Index builds (maintenance_work_mem 2GB, max_parallel_maintenance_workers = cores - 1):",
        "",
        "| index | build s | size MiB |",
        "| --- | --- | --- |",
    ]
    for name, b in (m.get("index_builds") or {}).items():
        lines.append(f"| {name} | {b['build_s']} | {b['index_mib']} |")
    return "\n".join([*lines, "", *_tuning_lines(m)]) + "\n"


def _tuning_lines(m: dict) -> list[str]:
    lines = [
        "Tuning (each row: p50/p95 over all passes, recall@1 vs the exact answer; the rows run one after the "
        "other, so a change of load on a shared machine (last column: 1-minute load average, 2 cores) shows in "
        "the latencies; recall does not depend on it):",
        "",
        "| index on | m | ef_construction | ef_search | p50 ms | p95 ms | recall@1 | recall@1 (answerable) | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in m.get("tuning") or []:
        lines.append(
            f"| {t['storage']} | {t['m']} | {t['ef_construction']} | {t['ef_search']} | {t['p50_ms']:.2f} | "
            f"{t['p95_ms']:.2f} | {t['recall_at_1']:.3f} | {t['recall_answerable']:.3f} | {t.get('load')} |"
        )
    per_index: dict[str, list[dict]] = {}
    for t in m.get("tuning") or []:
        per_index.setdefault(f"{t['storage']} m={t['m']} ef_construction={t['ef_construction']}", []).append(t)
    summary = []
    for name, ts in per_index.items():
        good = [t for t in ts if t["recall_answerable"] >= TARGET_RECALL]
        if good:
            t = min(good, key=lambda t: t["p50_ms"])
            summary.append(
                f"{name}: fastest with recall@1 >= {TARGET_RECALL} is ef_search {t['ef_search']} "
                f"({t['p50_ms']:.2f} ms p50, recall {t['recall_answerable']:.3f})"
            )
        else:
            t = max(ts, key=lambda t: t["recall_answerable"])
            summary.append(
                f"{name}: never reaches recall@1 {TARGET_RECALL} (best {t['recall_answerable']:.3f} at "
                f"ef_search {t['ef_search']})"
            )
    lines += ["", "What each index setting gives: " + "; ".join(summary) + "."]
    if m.get("index_forced_with_enable_seqscan_off"):
        lines += [
            "",
            f"Planner preferred a scan (small table), index forced for: {m['index_forced_with_enable_seqscan_off']}",
        ]
    return lines
