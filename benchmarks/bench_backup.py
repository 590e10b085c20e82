"""Stage `backup`: dump and restore the 100,000-face benchmark database (issue 17).

Data: bench_matching's database (the project's real tables; 2,000 creators x 5 embeddings, 100,000 faces in
video_face_detections over 2,000 videos, COPYed), with every index of sql/face/schema.sql, the faces' HNSW index
included (bench_matching drops it; a restore rebuilds it, and that is most of a restore's time).

OURS: face_assets.db.backup as `face-assets db backup|restore` and the database_backup job run it. `backup`: pg_dump
-Fc of a snapshot exported by a transaction that counts every table's rows in it meanwhile, the file's table of
contents read back, renamed from its temporary name, the directory's retention applied. `restore`: the file's table
of contents read, the target checked empty, `pg_restore --no-owner --no-privileges --single-transaction
--exit-on-error`, then every table's rows and the schema version read.
BASELINE: pg_dump -Fc, and pg_restore with the same options, called directly (the embedded server's own tools):
what the wrapper costs on top. Each restore goes into a new empty database (created and dropped outside the timing).
Target: ours within 1.2x of the baseline (ratio baseline/ours >= 1/1.2).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from benchmarks import bench_matching
from benchmarks.harness import DATA_DIR, StageResult, median, say, scratch_database, server_url, timed

STAGE = "backup"
TARGET_FACTOR = 1.2
FULL = {"data": bench_matching.FULL, "repetitions": 3}
QUICK = {"data": bench_matching.QUICK, "repetitions": 2}
RESTORE_OPTIONS = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]


def build(url: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The benchmark database in `url`; what it holds."""
    import psycopg

    from face_assets.db.sql_files import run_sql_file

    data = bench_matching.make_data(cfg["data"])
    with psycopg.connect(url, autocommit=True) as conn:
        setup = bench_matching.load_database(conn, data)
        bench_matching.parallel_maintenance(conn)
        setup["faces_hnsw_build_s"] = round(timed(lambda: run_sql_file(conn, "face/schema.sql"))[0], 2)
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return {
        "faces": int(data["faces"].shape[0]),
        "creator_embeddings": int(data["creator_emb"].shape[0]),
        **setup,
        "database_mib": round(size / 2**20, 1),
    }


def run_tool(args: list[str]) -> None:
    done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-500:]}")


def new_database(server: str) -> str:
    import psycopg
    from psycopg import sql

    from face_assets.db.embedded_postgres import with_database

    name = f"bench_backup_target_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server, name)


def drop_database(server: str, url: str) -> None:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(make_url(url).database)))


def run(quick: bool = False) -> list[StageResult]:
    from face_assets.db import backup

    cfg = dict(QUICK if quick else FULL)
    reps = cfg["repetitions"]
    work = DATA_DIR / f"backup-{uuid.uuid4().hex[:8]}"
    server = server_url()
    with scratch_database("backup") as url:
        sizes = build(url, cfg)
        say(f"[backup] database: {sizes}")
        pg_dump, pg_restore = str(backup.tool("pg_dump", url)), str(backup.tool("pg_restore", url))
        try:
            (work / "ours").mkdir(parents=True)
            dump_ours, dump_base, made = [], [], []
            for i in range(reps):  # interleaved: drift on the machine hits both alike
                seconds, result = timed(lambda: backup.backup(url, directory=work / "ours", keep=1))
                dump_ours.append(seconds)
                made.append(result)
                say(f"  dump ours      #{i + 1}: {seconds:.2f} s ({backup.human_size(result.size_bytes)})")
                base_file = work / f"baseline-{i}.dump"
                seconds, _ = timed(
                    lambda f=base_file: run_tool([pg_dump, "--format=custom", f"--file={f}", f"--dbname={url}"])
                )
                dump_base.append(seconds)
                say(f"  dump baseline  #{i + 1}: {seconds:.2f} s ({backup.human_size(base_file.stat().st_size)})")
            dump_file = made[-1].file
            base_file = work / f"baseline-{reps - 1}.dump"
            expected = made[-1].contents

            restore_ours, restore_base, checked = [], [], []
            for i in range(reps):
                target = new_database(server)
                try:
                    seconds, restored = timed(lambda t=target: backup.restore(t, dump_file))
                finally:
                    drop_database(server, target)
                restore_ours.append(seconds)
                checked.append(restored.contents == expected)
                say(f"  restore ours     #{i + 1}: {seconds:.2f} s")
                target = new_database(server)
                try:
                    seconds, _ = timed(
                        lambda t=target: run_tool([pg_restore, *RESTORE_OPTIONS, f"--dbname={t}", str(base_file)])
                    )
                    checked.append(backup.read_contents(target) == expected)
                finally:
                    drop_database(server, target)
                restore_base.append(seconds)
                say(f"  restore baseline #{i + 1}: {seconds:.2f} s")
            dump_mib = round(dump_file.stat().st_size / 2**20, 1)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if not all(checked):
        raise RuntimeError("a restored database does not hold the rows the backup counted")

    sizes = {**sizes, "tables": len(expected.tables), "rows": expected.rows, "dump_mib": dump_mib}
    common = {
        "sizes": sizes,
        "repetitions": {"ours": reps, "baseline": reps},
        "target": f"ours within {TARGET_FACTOR}x of the tool called directly (ratio >= {1 / TARGET_FACTOR:.2f})",
        "quick": quick,
    }
    results = []
    for name, ours_s, base_s, ours, baseline, notes in (
        (
            f"{STAGE}.dump",
            dump_ours,
            dump_base,
            "face_assets.db.backup.backup: pg_dump -Fc of an exported snapshot, rows counted in it meanwhile, table "
            "of contents read back, renamed when complete, retention",
            "pg_dump -Fc called directly",
            "Both write into benchmarks/.data on the same disk as the server.",
        ),
        (
            f"{STAGE}.restore",
            restore_ours,
            restore_base,
            "face_assets.db.backup.restore into an empty database: table of contents read, target checked empty, "
            f"pg_restore {' '.join(RESTORE_OPTIONS)}, then rows per table and the schema version read",
            f"pg_restore {' '.join(RESTORE_OPTIONS)} called directly",
            "Each restore into a new empty database (created and dropped untimed); both rebuild every index, the "
            "faces' HNSW index most of all. Every restored database holds the rows the backup counted.",
        ),
    ):
        ours_m, base_m = median(ours_s), median(base_s)
        results.append(
            StageResult(
                name=name,
                ours=ours,
                baseline=baseline,
                ours_median_s=ours_m,
                baseline_median_s=base_m,
                met=base_m / ours_m >= 1 / TARGET_FACTOR,
                notes=notes,
                metrics={"overhead_s": round(ours_m - base_m, 3)},
                ours_samples_s=ours_s,
                baseline_samples_s=base_s,
                **common,
            )
        )
    return results
