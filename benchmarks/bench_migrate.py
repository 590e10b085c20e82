"""Stage `migrate`: the project's migration vs a row-by-row INSERT loop (row `migrate`) and vs pgloader (row
`migrate.pgloader`), on the same embedded server in the same run.

Input: the fixture's empty legacy schema (legacy/schema_only.db) filled with synthetic rows carrying the real quirks
(DATETIME in two formats, BOOLEAN as 0/1, byte sizes above 2^31, REAL stored as TEXT, the text 'unknown' in an
INTEGER column, JSON in TEXT with a rare malformed value), 1,000,000 rows over videos, thumbnails, video_stats and
scan_logs. Generated once and cached under benchmarks/.data/.

OURS: face_assets.migration.parallel.migrate_tables in process: every table on its own connection and transaction,
several at a time, each migrate_table (direct COPY into the empty target, rejects, checks of the foreign keys) then
the blocking checks' reconcile (source rows = migrated + rejected, key checksum), as the migration assets run them.
BASELINE (row `migrate`): for each SQLite row, one parameterised INSERT with the same conversions done in Python (timestamps parsed to
UTC datetimes, 0/1 to bool, text to int/float where it converts else NULL plus a migration_rejects row, JSON parsed,
path prefixes mapped); one transaction per table, psycopg's automatic prepared statements. It is generous to the
baseline: it does no orphan detection (there are no orphans in the generated data; the foreign keys would abort it)
and no per-row jsonb copy of the source row.

Both are checked to produce the same table contents (count and an order-independent hash of every row's text).

PGLOADER (row `migrate.pgloader`): Debian's pgloader (installed here with apt-get when missing and root), `LOAD
DATABASE FROM sqlite://... INTO postgresql://user@unix:<socket dir>:<port>/db` (the embedded server listens on a
Unix socket only; pgloader's `unix:` host names the socket's directory), creating its own tables and indexes, with
the CAST rules it needs (PGLOADER_CASTS). It converts types but records no rejects and runs no checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    DATA_DIR,
    FIXTURES,
    StageResult,
    cached_input,
    load_average,
    median,
    require_fixtures,
    say,
    scratch_database,
    timed,
)

STAGE = "migrate"
TARGET_RATIO = 10.0
GENERATOR_VERSION = 1

# Share of the total rows per table (the parents watched_directories and users get a handful of rows on top).
SHARES = {"videos": 0.30, "thumbnails": 0.25, "video_stats": 0.35, "scan_logs": 0.10}
USERS = 50
TABLES = ["watched_directories", "users", "videos", "thumbnails", "video_stats", "scan_logs"]
PATH_MAP_SPEC = "/srv/media=/mnt/library"

# Full run: 1M rows, both ways measured on all of it when the baseline fits the time budget, else on a subset.
FULL_ROWS = 1_000_000
QUICK_ROWS = 2_000
BASELINE_BUDGET_S = float(os.environ.get("BENCH_MIGRATE_BASELINE_BUDGET_S", "900"))


# --- the synthetic legacy database --------------------------------------------------------------------


def table_sizes(total: int) -> dict[str, int]:
    sizes = {name: int(round(total * share)) for name, share in SHARES.items()}
    sizes["video_stats"] += total - sum(sizes.values())  # exactly `total`
    return sizes


def _ts(rng: random.Random, base: datetime) -> str:
    """A legacy DATETIME: SQLite's CURRENT_TIMESTAMP format or JavaScript's toISOString (both UTC), 50/50."""
    t = base + timedelta(seconds=rng.randrange(0, 2 * 365 * 86400))
    if rng.random() < 0.5:
        return t.strftime("%Y-%m-%d %H:%M:%S")
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randrange(1000):03d}Z"


def generate_legacy_db(path: Path, total: int, seed: int = 42) -> dict[str, int]:
    """Copy the empty fixture schema to `path` and fill it with `total` synthetic rows (deterministic)."""
    require_fixtures("legacy/schema_only.db")
    sizes = table_sizes(total)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / "legacy" / "schema_only.db", tmp)
    os.chmod(tmp, 0o644)
    rng = random.Random(seed)
    base = datetime(2024, 1, 1)
    codecs = ["h264", "hevc", "vp9", "av1"]
    studios = [f"Studio{i:02d}" for i in range(60)]
    n_videos = sizes["videos"]

    def videos():
        for i in range(1, n_videos + 1):
            width, height = rng.choice([(1280, 720), (1920, 1080), (3840, 2160), (640, 360)])
            yield (
                i,
                f"/srv/media/videos/{rng.choice(studios)}/Clip {i}.mp4",
                f"Clip {i}.mp4",
                1,
                rng.randrange(100_000_000, 2**31) if rng.random() < 0.4 else rng.randrange(2**31, 12 * 2**30),
                f"{rng.getrandbits(128):032x}",
                # REAL, but TEXT in a few rows (the reason for the legacy migration 008)
                f"{rng.uniform(30, 7200):.3f}" if rng.random() < 0.02 else round(rng.uniform(30, 7200), 3),
                "unknown" if rng.random() < 0.001 else width,  # text in an INTEGER column: NULLed, recorded
                height,
                rng.choice(codecs),
                rng.randrange(500_000, 20_000_000),
                rng.choice([23.976, 25.0, 29.97, 30.0, 60.0]),
                "aac",
                f"Title {i}" if rng.random() < 0.3 else None,
                None,
                None,
                1 if rng.random() < 0.95 else 0,
                _ts(rng, base),
                _ts(rng, base),
                _ts(rng, base),
                _ts(rng, base),
                0 if rng.random() < 0.98 else 1,
            )

    def thumbnails():
        for i in range(1, sizes["thumbnails"] + 1):
            yield (
                i,
                i,
                f"/srv/media/data/thumbnails/{i}.jpg",
                rng.randrange(10_000, 400_000),
                5.0,
                320,
                180,
                _ts(rng, base),
                rng.randrange(2),
            )

    def video_stats():
        for k in range(sizes["video_stats"]):
            yield (
                k % USERS + 1,
                k // USERS + 1,
                rng.randrange(0, 50),
                rng.uniform(0, 10_000),
                rng.uniform(0, 1_000),
                rng.randrange(2),
                rng.uniform(0, 3_600) if rng.random() < 0.9 else None,
                _ts(rng, base),
                _ts(rng, base) if rng.random() < 0.8 else None,
                _ts(rng, base),
                _ts(rng, base),
            )

    def scan_logs():
        for i in range(1, sizes["scan_logs"] + 1):
            r = rng.random()
            if r < 0.0005:
                errors = '["ffprobe failed: x.mkv"'  # malformed JSON: NULLed, recorded
            elif r < 0.1:
                errors = json.dumps([f"ffprobe failed: file{rng.randrange(1000)}.mkv"])
            else:
                errors = None
            yield (
                i,
                1,
                rng.randrange(0, 5000),
                rng.randrange(0, 50),
                rng.randrange(0, 50),
                rng.randrange(0, 10),
                errors,
                _ts(rng, base),
                _ts(rng, base) if rng.random() < 0.97 else None,
            )

    with sqlite3.connect(tmp) as conn:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(
            "INSERT INTO watched_directories (id, path, is_active, auto_scan, scan_interval_minutes, "
            "last_scan_at, added_at, updated_at) VALUES (1, '/srv/media/videos', 1, 1, 30, "
            "'2024-07-26 04:54:21', '2025-02-08T00:49:02.000Z', '2024-11-12 15:24:18')"
        )
        conn.executemany(
            "INSERT INTO users (id, username, password_hash, created_at, updated_at) VALUES (?,?,?,?,?)",
            [(u, f"user{u}", "$argon2id$v=19$x", _ts(rng, base), _ts(rng, base)) for u in range(1, USERS + 1)],
        )
        conn.executemany(f"INSERT INTO videos VALUES ({','.join('?' * 22)})", videos())
        conn.executemany(f"INSERT INTO thumbnails VALUES ({','.join('?' * 9)})", thumbnails())
        conn.executemany(f"INSERT INTO video_stats VALUES ({','.join('?' * 11)})", video_stats())
        conn.executemany(f"INSERT INTO scan_logs VALUES ({','.join('?' * 9)})", scan_logs())
    os.replace(tmp, path)
    return sizes


def legacy_db(total: int, directory: Path = DATA_DIR) -> Path:
    """The cached synthetic legacy database of `total` rows (generated on first use)."""
    return cached_input(
        directory / f"legacy_{total}_v{GENERATOR_VERSION}.db", lambda path: generate_legacy_db(path, total), STAGE
    )


def subset_db(source: Path, total: int) -> Path:
    """The first rows of each table of `source`, about `total` in all (same rows, same quirks)."""
    path = source.with_name(f"{source.stem}_first_{total}.db")
    if path.exists():
        return path
    sizes = table_sizes(total)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    shutil.copyfile(FIXTURES / "legacy" / "schema_only.db", tmp)
    os.chmod(tmp, 0o644)
    with sqlite3.connect(tmp) as conn:
        conn.execute("ATTACH DATABASE ? AS src", (f"file:{source}?mode=ro",))
        conn.execute("INSERT INTO watched_directories SELECT * FROM src.watched_directories")
        conn.execute("INSERT INTO users SELECT * FROM src.users")
        n_videos = sizes["videos"]
        conn.execute("INSERT INTO videos SELECT * FROM src.videos WHERE id <= ?", (n_videos,))
        conn.execute(
            "INSERT INTO thumbnails SELECT * FROM src.thumbnails WHERE id <= ?", (min(sizes["thumbnails"], n_videos),)
        )
        conn.execute(
            "INSERT INTO video_stats SELECT * FROM src.video_stats WHERE video_id <= ? LIMIT ?",
            (n_videos, sizes["video_stats"]),
        )
        conn.execute("INSERT INTO scan_logs SELECT * FROM src.scan_logs WHERE id <= ?", (sizes["scan_logs"],))
    os.replace(tmp, path)
    return path


def count_rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES}


# --- ours ---------------------------------------------------------------------------------------------


# Loader steps timed per call; under migrate_tables the tables run in threads, so these add up time spent in
# each step over all tables and overlap one another (their sum exceeds the wall time).
PHASES = [
    ("loader", "copy_into_target"),
    ("loader", "stage_rows"),
    ("loader", "flag_unconvertible"),
    ("loader", "flag_rejected_rows"),
    ("loader", "upsert"),
    ("loader", "load_kept_rows"),
    ("loader", "_has_orphans"),
    ("loader", "record_rejects"),
    ("loader", "count_migrated"),
    ("parallel", "reconcile"),
]


@contextlib.contextmanager
def phase_timer(totals: dict[str, float]):
    """Time the migration's steps (module functions, looked up by name at call time) while inside."""
    import importlib

    modules = {m: importlib.import_module(f"face_assets.migration.{m}") for m, _ in PHASES}
    originals = {(m, name): getattr(modules[m], name) for m, name in PHASES if hasattr(modules[m], name)}

    def wrap(name, fn):
        def timed_phase(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - started

        return timed_phase

    for (m, name), fn in originals.items():
        setattr(modules[m], name, wrap(name, fn))
    try:
        yield totals
    finally:
        for (m, name), fn in originals.items():
            setattr(modules[m], name, fn)


def migrate_ours(url: str, db: Path) -> dict[str, Any]:
    import psycopg

    from face_assets.migration.legacy_schema import LegacySchema
    from face_assets.migration.parallel import migrate_tables
    from face_assets.settings import PathMap

    schema = LegacySchema.read(db)
    path_map = PathMap.parse(PATH_MAP_SPEC)
    out = {}
    for o in migrate_tables(
        lambda: psycopg.connect(url), schema, [t for t in schema.load_order if t in TABLES], path_map
    ):
        if o.error is not None:
            raise RuntimeError(f"{o.table}: {o.error}") from o.error
        if not (o.check.counts_match and o.check.checksums_match):
            raise RuntimeError(f"{o.table}: blocking check failed {o.check}")
        out[o.table] = {
            "migrated": o.result.migrated_rows,
            "rejected": o.result.rejected_rows,
            "nulled": o.result.nulled_rows,
            "seconds": round(o.result.seconds, 3),
        }
    return out


def migrate_cli(db: Path) -> tuple[float | None, str]:
    """Wall seconds of `face-assets run --select group:legacy_migration` (a new process: Python and Dagster start,
    every migration asset as today's definitions wire them) into scratch databases; (None, why) if it failed."""
    import sys

    from sqlalchemy.engine import make_url

    executable = Path(sys.executable).with_name("face-assets")
    with scratch_database("migrate_cli") as url, scratch_database("migrate_cli_dagster") as dagster_url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "FACE_ASSETS_LEGACY_DB": str(db),
            "FACE_ASSETS_PATH_MAP": PATH_MAP_SPEC,
            "FACE_ASSETS_DAGSTER_DATABASE_URL": make_url(dagster_url)
            .set(drivername="postgresql+psycopg2")
            .render_as_string(hide_password=False),
        }
        started = time.perf_counter()
        done = subprocess.run(
            [str(executable), "run", "--select", "group:legacy_migration"], env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        return None, f"exit {done.returncode}: {(done.stdout + done.stderr)[-500:]}"
    return seconds, "ok"


# --- pgloader -------------------------------------------------------------------------------------------

# The CAST rules pgloader needs for this database (its other defaults kept):
PGLOADER_CASTS = [
    # 'unknown' in an INTEGER column: pgloader's integer-to-string raises in its reader thread and the load never
    # ends. Kept as text: pgloader does not convert this column (ours converts it and NULLs 'unknown').
    "column videos.width to text drop typemod",
    # REAL as double precision, as ours (pgloader's default is real, 4 bytes); float-to-string also takes the REAL
    # values stored as TEXT (without it a double arrives as '7086.465d0' and PostgreSQL refuses it).
    "type real to float8 drop typemod using float-to-string",
]


def ensure_pgloader() -> str | None:
    """pgloader's path; installed from Debian (apt-get) when missing and running as root, else None."""
    found = shutil.which("pgloader")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    say("[migrate] installing pgloader (apt-get install pgloader) ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "pgloader"], env=env, capture_output=True, check=False)
    return shutil.which("pgloader")


def pgloader_target(url: str) -> str:
    """pgloader's spelling of a libpq URL whose host is a Unix socket directory: postgresql://user@unix:DIR:PORT/DB."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    host = u.query.get("host") or u.host or ""
    auth = u.username + (f":{u.password}" if u.password else "") + "@" if u.username else ""
    netloc = f"unix:{host}" if host.startswith("/") else host
    return f"postgresql://{auth}{netloc}:{u.port or 5432}/{u.database}"


def pgloader_command(db: Path, url: str) -> str:
    return (
        f"LOAD DATABASE\n  FROM sqlite://{db.resolve()}\n  INTO {pgloader_target(url)}\n"
        " WITH include drop, create tables, create indexes, reset sequences\n"
        f" CAST {(',' + chr(10) + '      ').join(PGLOADER_CASTS)};\n"
    )


def migrate_pgloader(url: str, db: Path, executable: str = "pgloader") -> dict[str, Any]:
    """Run pgloader into `url`'s database; its per-table row counts afterwards."""
    import psycopg

    with tempfile.TemporaryDirectory(prefix="bench_pgloader_") as work:
        command = Path(work) / "migrate.load"
        command.write_text(pgloader_command(db, url))
        done = subprocess.run([executable, "--root-dir", work, command], capture_output=True, text=True)
        output = done.stdout + done.stderr
        if done.returncode != 0 or "Total import time" not in output:
            raise RuntimeError(f"pgloader failed (exit {done.returncode}): {output[-2000:]}")
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES}


# --- the baseline: one INSERT per row -----------------------------------------------------------------


def _to_int(v):
    if v is None or isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return int(str(v).strip())  # ValueError for 'unknown'


def _to_float(v):
    return None if v is None else float(v)


def _to_bool(v):
    if v is None:
        return None
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("1", "t", "true", "yes", "y", "on"):
            return True
        if s in ("0", "f", "false", "no", "n", "off"):
            return False
        raise ValueError(v)
    return bool(int(v))


def _to_timestamptz(v):
    if v is None:
        return None
    t = datetime.fromisoformat(str(v))  # both legacy formats ('YYYY-MM-DD HH:MM:SS' and '...T...Z')
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _converter(pgtype: str, column: str, path_map) -> Callable[[Any], Any]:
    from psycopg.types.json import Jsonb

    if pgtype in ("integer", "bigint", "smallint"):
        return _to_int
    if pgtype in ("double precision", "real", "numeric"):
        return _to_float
    if pgtype == "boolean":
        return _to_bool
    if pgtype == "timestamp with time zone":
        return _to_timestamptz
    if pgtype == "jsonb":
        return lambda v: None if v is None else Jsonb(json.loads(v))
    if column == "path" or column.endswith("_path"):
        return lambda v: path_map.apply(None if v is None else str(v))
    return lambda v: None if v is None else str(v)


def migrate_row_by_row(url: str, db: Path) -> dict[str, Any]:
    import psycopg
    from psycopg import sql
    from psycopg.types.json import Jsonb

    from face_assets.db.sql_files import read_sql
    from face_assets.migration.legacy_schema import LegacySchema
    from face_assets.migration.loader import ensure_target_table, set_sequence, target_columns
    from face_assets.settings import PathMap

    schema = LegacySchema.read(db)
    path_map = PathMap.parse(PATH_MAP_SPEC)
    sequences = schema.sequence_values()
    out = {}
    with psycopg.connect(url) as conn, sqlite3.connect(f"file:{db}?mode=ro", uri=True) as source:
        for name in [t for t in schema.load_order if t in TABLES]:
            table = schema.tables[name]
            with conn.transaction():
                conn.execute("SET LOCAL TIME ZONE 'UTC'")
                conn.execute(read_sql("migration/rejects.sql"))
                ensure_target_table(conn, table)
                types = target_columns(conn, name)
                columns = table.column_names
                converters = [_converter(types[c][0], c, path_map) for c in columns]
                insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(name),
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                )
                reject = (
                    "INSERT INTO migration_rejects (table_name, source_row, reason, disposition, columns)"
                    " VALUES (%s, %s, %s, 'value_nulled', %s)"
                )
                select = f'SELECT {", ".join(chr(34) + c + chr(34) for c in columns)} FROM "{name}"'
                rows = nulled = 0
                with conn.cursor() as cur:
                    for raw in source.execute(select):
                        values = []
                        bad = []
                        for conv, column, value in zip(converters, columns, raw):
                            try:
                                values.append(conv(value))
                            except (ValueError, TypeError):
                                values.append(None)
                                bad.append(column)
                        cur.execute(insert, values)
                        if bad:
                            nulled += 1
                            cur.execute(
                                reject, (name, Jsonb(dict(zip(columns, raw))), "set to NULL: " + ", ".join(bad), bad)
                            )
                        rows += 1
                set_sequence(conn, table, sequences.get(name))
            out[name] = {"migrated": rows, "nulled": nulled}
    return out


# --- checking both give the same tables ---------------------------------------------------------------


def fingerprint(url: str) -> dict[str, tuple[int, int]]:
    """Per table: (rows, order-independent sum of the hash of each row's text)."""
    import psycopg

    out = {}
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for name in TABLES:
            out[name] = tuple(
                conn.execute(f'SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM "{name}" t').fetchone()
            )
        out["migration_rejects"] = tuple(
            conn.execute(
                "SELECT count(*), coalesce(sum(hashtext(table_name || source_row::text)::bigint), 0)"
                " FROM migration_rejects"
            ).fetchone()
        )
    return out


# --- the stage ----------------------------------------------------------------------------------------


def _one(kind: str, fn, db: Path, with_fingerprint: bool = True) -> tuple[float, dict, dict | None]:
    """Time `fn` on a fresh database; returns (seconds, fn's result, fingerprint)."""
    with scratch_database(f"migrate_{kind}") as url:
        seconds, result = timed(lambda: fn(url, db))
        return seconds, result, fingerprint(url) if with_fingerprint else None


def run(
    quick: bool = False, total: int | None = None, repetitions: int | None = None, data_dir: Path | None = None
) -> list[StageResult]:
    total = total or (QUICK_ROWS if quick else int(os.environ.get("BENCH_MIGRATE_ROWS", FULL_ROWS)))
    repetitions = repetitions or int(os.environ.get("BENCH_MIGRATE_REPETITIONS", 2 if quick else 3))
    db = legacy_db(total, data_dir or DATA_DIR)
    sizes = count_rows(db)
    synthetic = sum(sizes[t] for t in SHARES)
    say(f"[migrate] {synthetic:,} synthetic rows ({sizes})")

    # One untimed baseline pass on a small subset tells whether the full baseline fits the budget.
    baseline_db = db
    extrapolated = False
    if not quick:
        probe_rows = min(20_000, total)
        probe = subset_db(db, probe_rows)
        probe_s, _, _ = _one("probe", migrate_row_by_row, probe)
        estimate = probe_s * synthetic / sum(count_rows(probe)[t] for t in SHARES)
        say(f"[migrate] baseline probe: {probe_s:.1f} s on {probe_rows:,} rows -> about {estimate:.0f} s for all")
        if estimate * repetitions > BASELINE_BUDGET_S:
            sub_rows = max(50_000, int(total * BASELINE_BUDGET_S / estimate / repetitions) // 10_000 * 10_000)
            if sub_rows < total:
                baseline_db = subset_db(db, sub_rows)
                extrapolated = True

    baseline_sizes = count_rows(baseline_db)
    baseline_synthetic = sum(baseline_sizes[t] for t in SHARES)
    pgloader = ensure_pgloader()
    if pgloader is None:
        say("[migrate] pgloader not found (and not root, or no apt-get): row migrate.pgloader left out")
    ours_s, base_s, pgl_s, loads = [], [], [], []
    ours_out = pgl_out = None
    ours_fp = base_fp = None
    phases: dict[str, float] = {}
    # Interleaved, so that drift on a shared machine hits all three alike.
    for i in range(repetitions):
        loads.append(load_average())
        phases.clear()
        with phase_timer(phases):
            s, ours_out, ours_fp = _one("ours", migrate_ours, db)
        ours_s.append(s)
        say(f"  ours      #{i + 1}: {s:.2f} s ({synthetic / s:,.0f} rows/s), load {loads[-1]}")
        if pgloader:
            s, pgl_out, _ = _one("pgloader", lambda url, path: migrate_pgloader(url, path, pgloader), db, False)
            pgl_s.append(s)
            say(f"  pgloader  #{i + 1}: {s:.2f} s ({synthetic / s:,.0f} rows/s)")
        s, _base_out, base_fp = _one("baseline", migrate_row_by_row, baseline_db)
        base_s.append(s)
        say(f"  baseline  #{i + 1}: {s:.2f} s ({baseline_synthetic / s:,.0f} rows/s)")
    loads.append(load_average())
    # Once, after the interleaved runs: today's Dagster wiring runs the tables one asset (one step) at a time.
    cli_s, cli_note = migrate_cli(db) if not quick and pgl_s else (None, "not measured")
    if cli_s is not None:
        say(f"  face-assets run --select group:legacy_migration: {cli_s:.2f} s")

    scale = synthetic / baseline_synthetic
    baseline_measured = median(base_s)
    baseline_median = baseline_measured * scale
    notes = [
        f"legacy DB: {synthetic:,} synthetic rows in {', '.join(f'{t} {sizes[t]:,}' for t in SHARES)} "
        f"(+ {sizes['watched_directories']} watched_directories, {sizes['users']} users); quirks: two DATETIME "
        "formats, 0/1 booleans, file_size_bytes up to 12 GiB, REAL as TEXT, 'unknown' in videos.width, "
        "malformed JSON in scan_logs.errors."
    ]
    if extrapolated:
        notes.append(
            f"baseline measured on the first {baseline_synthetic:,} rows of the same database "
            f"({baseline_measured:.1f} s median) and extrapolated linearly x{scale:.2f} to {synthetic:,} rows "
            "(it would take too long on all of them)."
        )
        _, _, ours_fp = _one("check", migrate_ours, baseline_db)  # same input as the baseline, for the check
    same = "identical" if ours_fp == base_fp else f"DIFFERENT: ours {ours_fp} vs baseline {base_fp}"
    notes.append(
        f"tables after ours and after the baseline{' (on the subset)' if extrapolated else ''}: {same} "
        "(row counts and order-independent row hashes, migration_rejects included)."
    )
    notes.append(
        "baseline: one transaction per table, psycopg auto-prepared statements; no orphan detection "
        "(there are no orphans here), so it does less work than ours."
    )
    per_table = {t: v.get("seconds") for t, v in (ours_out or {}).items()}
    ours_median = median(ours_s)
    result = StageResult(
        name=STAGE,
        sizes={
            "rows": synthetic,
            "rows_per_table": {t: sizes[t] for t in TABLES},
            "baseline_rows_measured": baseline_synthetic,
        },
        ours="face_assets.migration.parallel.migrate_tables in process: tables side by side, each COPYed straight "
        "into its target (rejects staged), foreign keys checked, then the blocking checks",
        baseline="row-by-row parameterised INSERT from a Python loop over the SQLite rows, conversions in Python",
        ours_median_s=ours_median,
        baseline_median_s=baseline_median,
        repetitions={"ours": len(ours_s), "baseline": len(base_s)},
        target=f">= {TARGET_RATIO:g}x (ours over baseline, total migration time)",
        met=bool(ours_median and baseline_median / ours_median >= TARGET_RATIO),
        notes=" ".join(notes),
        metrics={
            "ours_rows_per_s": round(synthetic / ours_median),
            "baseline_rows_per_s": round(baseline_synthetic / baseline_measured),
            "baseline_extrapolated": extrapolated,
            "baseline_measured_median_s": baseline_measured,
            "ours_seconds_per_table_last_run": per_table,
            "ours_rejects_last_run": {
                t: {k: v[k] for k in ("rejected", "nulled")} for t, v in (ours_out or {}).items()
            },
            "same_tables": same,
            "ours_phase_seconds": {k: round(v, 2) for k, v in phases.items()},
        },
        ours_samples_s=ours_s,
        baseline_samples_s=base_s,
        quick=quick,
    )
    results = [result]
    if pgl_s:
        results.append(
            _pgloader_result(quick, synthetic, sizes, ours_s, pgl_s, ours_out, pgl_out, loads, cli_s, cli_note)
        )
    return results


def _pgloader_result(quick, synthetic, sizes, ours_s, pgl_s, ours_out, pgl_out, loads, cli_s, cli_note) -> StageResult:
    ours_median, pgl_median = median(ours_s), median(pgl_s)
    counts = {t: (ours_out or {}).get(t, {}).get("migrated") for t in TABLES}
    notes = (
        "Same legacy database, same embedded server, interleaved with ours (ours, pgloader, row-by-row baseline per "
        "repetition); wall time of each. Ours: migrate_tables in this Python process (the code path of the "
        "migration assets, checks included), not counting interpreter start or Dagster. pgloader: the `pgloader` "
        "command, start to exit, into an empty database, creating its own tables and indexes; target "
        f"{pgloader_target('postgresql://postgres@/db?host=/SOCKET/DIR')} (pgloader reaches the Unix-socket-only "
        "server through its `unix:` host). CAST rules given to it: "
        + "; ".join(f"`{c}`" for c in PGLOADER_CASTS)
        + ". Without the first, pgloader's integer-to-string stops on 'unknown' in videos.width and the load hangs; "
        "without the second, REAL becomes 4-byte real (or '...d0' literals PostgreSQL refuses). What pgloader does "
        "not do that ours does: convert videos.width (it stays text), turn JSON text into jsonb and record the "
        "malformed ones, record rejects with reasons, check orphans, check source rows = migrated + "
        "rejected and the key checksum. Rows pgloader loaded: "
        + ", ".join(f"{t} {n:,}" for t, n in (pgl_out or {}).items())
        + f". Load average (1 min) before each repetition and at the end: {loads}; 2 cores shared with other work."
        + (
            f" `face-assets run --select group:legacy_migration` (new process: one Dagster step, the tables side by side"
            f"), once after the rest: {cli_s:.1f} s."
            if cli_s is not None
            else f" `face-assets run --select group:legacy_migration`: {cli_note}."
        )
    )
    return StageResult(
        name=f"{STAGE}.pgloader",
        sizes={"rows": synthetic, "rows_per_table": {t: sizes[t] for t in TABLES}},
        ours="face_assets.migration.parallel.migrate_tables in process, blocking checks included",
        baseline="pgloader (Debian package) SQLite -> PostgreSQL with the CAST rules it needs; no rejects, no checks",
        ours_median_s=ours_median,
        baseline_median_s=pgl_median,
        repetitions={"ours": len(ours_s), "baseline": len(pgl_s)},
        target="<= pgloader's time (ratio >= 1), end to end",
        met=bool(ours_median and pgl_median and ours_median <= pgl_median),
        notes=notes,
        metrics={
            "ours_migrated_rows": counts,
            "pgloader_rows": pgl_out,
            "load_average": loads,
            "pgloader_casts": PGLOADER_CASTS,
            "face_assets_run_s": cli_s,
        },
        ours_samples_s=ours_s,
        baseline_samples_s=pgl_s,
        quick=quick,
    )


def details_markdown(r: dict) -> str:
    m = r.get("metrics") or {}
    sizes = r.get("sizes") or {}
    if r.get("name") == f"{STAGE}.pgloader":
        return (
            "Samples (s): ours "
            + ", ".join(f"{v:.1f}" for v in r.get("ours_samples_s") or [])
            + "; pgloader "
            + ", ".join(f"{v:.1f}" for v in r.get("baseline_samples_s") or [])
            + ".\n"
        )
    lines = [
        f"Throughput: ours {m.get('ours_rows_per_s', 0):,} rows/s, baseline {m.get('baseline_rows_per_s', 0):,} "
        f"rows/s (baseline measured on {sizes.get('baseline_rows_measured', 0):,} rows"
        f"{', extrapolated linearly' if m.get('baseline_extrapolated') else ''}).",
        "",
        "| table | rows | ours seconds (last run) | rejected | nulled |",
        "| --- | --- | --- | --- | --- |",
    ]
    rejects = m.get("ours_rejects_last_run") or {}
    for table, seconds in (m.get("ours_seconds_per_table_last_run") or {}).items():
        rj = rejects.get(table, {})
        lines.append(
            f"| {table} | {(sizes.get('rows_per_table') or {}).get(table, 0):,} | {seconds} | "
            f"{rj.get('rejected')} | {rj.get('nulled')} |"
        )
    phases = m.get("ours_phase_seconds")
    if phases:
        lines += [
            "",
            "Where ours spends its time (last run, seconds per step summed over the tables, which run side "
            "by side, so the sum exceeds the wall time): " + ", ".join(f"{k} {v}" for k, v in phases.items()) + ".",
        ]
    return "\n".join(lines) + "\n"
