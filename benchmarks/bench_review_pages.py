"""Stage `review_pages`: the review app's listings with a large library, keyset pagination vs OFFSET.

Data (FULL): 100,000 faces (random unit-free 512-d embeddings, stored like real ones: out-of-line, fillfactor 45)
in 2,000 videos; 10,000 of them 'pending' with a proposed creator (2,000 creators), 40,000 unknown faces in 5,000
open clusters (skewed sizes), the rest 'matched'. Schema: the legacy videos / creators / video_creators tables and
the face schema of the app; cluster statistics by the app's own update_cluster_stats. The faces' HNSW index is
dropped for the load (the listings do not use it, and building it would only lengthen the stage).

OURS: the app's listings, keyset-paginated (face_assets.review.queries: pending_page, clusters_page), walking the
whole review queue (50 a page) and every page of clusters (24 a page), timed per page; then the API calls
themselves in-process (FastAPI TestClient, so the time is the server's, no network) at pages spread over the depth:
GET /api/face-recognition/pending, /pending/groups, /clusters, and the pages /review and /people when the app has
them. BASELINE: the same listings with LIMIT/OFFSET (sql/review/*_offset.sql) at the same page positions (cluster cards
with their sample faces, as ours).
ratio = baseline median / ours median per page; p50/p95 per call in the metrics.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.harness import StageResult, load_average, median, percentile, say, scratch_database

STAGE = "review_pages"
FULL = {
    "faces": 100_000,
    "pending": 10_000,
    "clustered": 40_000,
    "clusters": 5_000,
    "videos": 2_000,
    "creators": 2_000,
    "api_samples": 40,
}
QUICK = {
    "faces": 5_000,
    "pending": 500,
    "clustered": 2_000,
    "clusters": 250,
    "videos": 100,
    "creators": 100,
    "api_samples": 5,
}
PENDING_PAGE = 50
CLUSTER_PAGE = 24
TARGET_P95_MS = 300.0


def _load(url: str, n: dict[str, int]) -> None:
    import psycopg

    from face_assets.db.sql_files import run_sql_file
    from face_assets.recognition.clustering import ensure_schema as ensure_review_schema
    from face_assets.recognition.clustering import update_cluster_stats
    from face_assets.recognition.matching import ensure_schema

    with psycopg.connect(url) as conn:
        _legacy_tables(conn)
        run_sql_file(conn, "face/schema.sql")
        conn.commit()
        ensure_schema(conn)
        ensure_review_schema(conn)
        conn.execute("DROP INDEX IF EXISTS idx_video_faces_embedding")
        root = conn.execute("INSERT INTO watched_directories (path) VALUES ('/library') RETURNING id").fetchone()[0]
        conn.execute(
            "INSERT INTO videos (directory_id, file_size_bytes, file_path, file_name, title) SELECT %s, 1000000,"
            " '/library/v' || g"
            " || '.mp4', 'v' || g || '.mp4', 'Video ' || g FROM generate_series(1, %s) g",
            (root, n["videos"]),
        )
        conn.execute(
            "INSERT INTO creators (name) SELECT 'Creator ' || g FROM generate_series(1, %s) g", (n["creators"],)
        )
        conn.execute("INSERT INTO face_clusters (status) SELECT 'open' FROM generate_series(1, %s)", (n["clusters"],))
        # Faces: ids 1..pending pending, then clustered unknown faces (cluster sizes skewed: random()^2), then matched.
        conn.execute(
            """
            INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,
                bbox_width, bbox_height, quality_score, matched_creator_id, match_confidence, match_status, cluster_id)
            SELECT 1 + g %% %(videos)s, (g %% 10) * 3.0, g %% 10,
                   (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 512) WHERE g > 0)::vector(512),
                   10, 10, 100, 100, 0.5 + random() / 2,
                   CASE WHEN g <= %(pending)s OR g > %(pending)s + %(clustered)s THEN 1 + g %% %(creators)s END,
                   CASE WHEN g <= %(pending)s THEN 0.30 + random() * 0.15
                        WHEN g > %(pending)s + %(clustered)s THEN 0.5 + random() * 0.3 END,
                   CASE WHEN g <= %(pending)s THEN 'pending'
                        WHEN g <= %(pending)s + %(clustered)s THEN 'unmatched' ELSE 'matched' END,
                   CASE WHEN g > %(pending)s AND g <= %(pending)s + %(clustered)s
                        THEN 1 + floor(%(clusters)s * random() ^ 2)::int END
            FROM generate_series(1, %(faces)s) g
            """,
            n,
        )
        conn.commit()
        update_cluster_stats(conn, list(range(1, n["clusters"] + 1)), [])
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE video_face_detections")
        conn.execute("VACUUM ANALYZE face_clusters")


def _legacy_tables(conn) -> None:
    """The legacy schema (sql/legacy/*.sql), each table once the tables it references exist."""
    import psycopg

    from face_assets.db.sql_files import SQL_DIR, read_sql

    left = sorted(p.name for p in (SQL_DIR / "legacy").glob("*.sql"))
    while left:
        failed = []
        for name in left:
            try:
                with conn.transaction():
                    conn.execute(read_sql(f"legacy/{name}"))
            except psycopg.errors.UndefinedTable:
                failed.append(name)
        if len(failed) == len(left):
            raise RuntimeError(f"legacy tables that reference missing tables: {failed}")
        left = failed


def _walk(conn, listing, limit: int) -> tuple[list[float], list[str | None]]:
    """Every page of a keyset listing: seconds per page and the cursor each page started from."""
    times, cursors, cursor = [], [], None
    while True:
        cursors.append(cursor)
        started = time.perf_counter()
        page = listing(conn, limit, cursor)
        times.append(time.perf_counter() - started)
        cursor = page.next_cursor
        if cursor is None:
            return times, cursors


def _offsets(conn, query: str, params: dict, limit: int, pages: int, samples: bool = False) -> list[float]:
    """The OFFSET listing at every page; with `samples`, the cluster cards' sample faces too, as clusters_page."""
    from face_assets.db.sql_files import read_sql
    from face_assets.review import queries as review_queries

    times = []
    for page in range(pages):
        started = time.perf_counter()
        rows = conn.execute(read_sql(query), {**params, "limit": limit, "offset": page * limit}).fetchall()
        if samples:
            review_queries._add_samples(conn, [review_queries._card(r) for r in rows], 4)
        times.append(time.perf_counter() - started)
    return times


def _ms(values: list[float], q: float) -> float | None:
    p = percentile(values, q)
    return None if p is None else round(p * 1e3, 2)


def _api(client, path: str, params_list: list[dict]) -> dict[str, Any]:
    times, statuses = [], set()
    for params in params_list:
        started = time.perf_counter()
        r = client.get(path, params=params)
        times.append(time.perf_counter() - started)
        statuses.add(r.status_code)
    return {"calls": len(times), "p50_ms": _ms(times, 50), "p95_ms": _ms(times, 95), "statuses": sorted(statuses)}


def run(quick: bool = False) -> list[StageResult]:
    import psycopg
    from fastapi.testclient import TestClient

    from face_assets.review import queries as review_queries
    from face_assets.web.app import create_app

    n = QUICK if quick else FULL
    load_before = load_average()
    with scratch_database("review") as url:
        say(f"[{STAGE}] loading {n['faces']:,} faces, {n['pending']:,} pending, {n['clusters']:,} clusters ...")
        started = time.perf_counter()
        _load(url, n)
        load_s = time.perf_counter() - started
        say(f"[{STAGE}] loaded in {load_s:.1f} s")
        with psycopg.connect(url) as conn:
            conn.read_only = True
            pending_keyset, pending_cursors = _walk(conn, review_queries.pending_page, PENDING_PAGE)
            pending_offset = _offsets(conn, "review/pending_page_offset.sql", {}, PENDING_PAGE, len(pending_keyset))
            clusters_keyset, cluster_cursors = _walk(
                conn, lambda c, limit, cursor: review_queries.clusters_page(c, "open", limit, cursor), CLUSTER_PAGE
            )
            clusters_offset = _offsets(
                conn,
                "review/clusters_page_offset.sql",
                {"status": "open"},
                CLUSTER_PAGE,
                len(clusters_keyset),
                samples=True,
            )
            groups_keyset, _ = _walk(conn, lambda c, limit, cursor: review_queries.pending_groups(c, limit, cursor), 20)
        say(f"[{STAGE}] walked {len(pending_keyset)} pending pages, {len(clusters_keyset)} cluster pages")

        def spread(cursors: list, k: int) -> list[dict]:
            step = max(1, len(cursors) // k)
            return [{"cursor": c} if c else {} for c in cursors[::step][:k]]

        api: dict[str, Any] = {}
        with TestClient(create_app(database_url=url), base_url="http://127.0.0.1:3001") as client:
            client.get("/api/face-recognition/stats")  # warm: imports, first connection
            api["GET /api/face-recognition/pending"] = _api(
                client, "/api/face-recognition/pending", spread(pending_cursors, n["api_samples"])
            )
            api["GET /api/face-recognition/pending/groups"] = _api(
                client, "/api/face-recognition/pending/groups", [{}] * n["api_samples"]
            )
            api["GET /api/face-recognition/clusters"] = _api(
                client, "/api/face-recognition/clusters", spread(cluster_cursors, n["api_samples"])
            )
            for page in ("/review", "/people"):
                probe = client.get(page)
                if probe.status_code == 200:
                    api[f"GET {page}"] = _api(client, page, [{}] * n["api_samples"])
                else:
                    api[f"GET {page}"] = {"skipped": f"status {probe.status_code}"}

    def ratio_note(ours: list[float], base: list[float]) -> str:
        deep = slice(len(ours) * 9 // 10, None)
        return (
            f"ours p50 {_ms(ours, 50)} / p95 {_ms(ours, 95)} ms per page, OFFSET p50 {_ms(base, 50)} / p95 "
            f"{_ms(base, 95)} ms; last tenth of the pages: ours {_ms(ours[deep], 50)} ms, OFFSET "
            f"{_ms(base[deep], 50)} ms (p50)"
        )

    worst_api = max((v.get("p95_ms") or 0) for v in api.values())
    sizes = {
        "faces": n["faces"],
        "pending": n["pending"],
        "clusters": n["clusters"],
        "videos": n["videos"],
        "creators": n["creators"],
    }
    metrics_common = {
        "load_s": round(load_s, 1),
        "api": api,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "groups_keyset_p50_ms": _ms(groups_keyset, 50),
        "groups_keyset_p95_ms": _ms(groups_keyset, 95),
    }
    results = []
    for name, ours, base, page_size, what in (
        ("review_pages.pending", pending_keyset, pending_offset, PENDING_PAGE, "review queue (pending proposals)"),
        ("review_pages.clusters", clusters_keyset, clusters_offset, CLUSTER_PAGE, "open clusters, largest first"),
    ):
        results.append(
            StageResult(
                name=name,
                sizes={**sizes, "pages": len(ours), "page_size": page_size},
                ours=f"{what}: keyset pagination, every page walked (face_assets.review.queries)",
                baseline=f"{what}: the same listing with LIMIT/OFFSET at the same pages",
                ours_median_s=median(ours),
                baseline_median_s=median(base),
                repetitions={"ours": len(ours), "baseline": len(base)},
                target=f"API calls and pages p95 <= {TARGET_P95_MS:.0f} ms (server time)",
                met=worst_api <= TARGET_P95_MS,
                notes=ratio_note(ours, base),
                metrics={
                    **metrics_common,
                    "ours_p50_ms": _ms(ours, 50),
                    "ours_p95_ms": _ms(ours, 95),
                    "baseline_p50_ms": _ms(base, 50),
                    "baseline_p95_ms": _ms(base, 95),
                },
                ours_samples_s=ours,
                baseline_samples_s=base,
                quick=quick,
            )
        )
    return results


def details_markdown(r: dict) -> str:
    m = r.get("metrics") or {}
    lines = [
        f"- per page: ours p50 {m.get('ours_p50_ms')} ms, p95 {m.get('ours_p95_ms')} ms; OFFSET p50 "
        f"{m.get('baseline_p50_ms')} ms, p95 {m.get('baseline_p95_ms')} ms",
        f"- grouped review queue (keyset, 20 groups a page): p50 {m.get('groups_keyset_p50_ms')} ms, p95 "
        f"{m.get('groups_keyset_p95_ms')} ms",
        f"- data loaded in {m.get('load_s')} s",
        "",
        "| call (server time, in-process) | calls | p50 | p95 |",
        "| --- | --- | --- | --- |",
    ]
    for call, v in (m.get("api") or {}).items():
        if "skipped" in v:
            lines.append(f"| {call} | skipped ({v['skipped']}) | | |")
        else:
            lines.append(f"| {call} | {v['calls']} | {v['p50_ms']} ms | {v['p95_ms']} ms |")
    return "\n".join(lines) + "\n"
