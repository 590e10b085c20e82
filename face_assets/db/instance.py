"""Prepares the environment the Dagster instance needs (dagster.yaml reads everything from it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from face_assets import settings
from face_assets.db import embedded_postgres

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"


def prepare() -> Path:
    """Export DAGSTER_HOME, DATABASE_URL and the Dagster storage URL; start the embedded server when needed.

    DAGSTER_HOME defaults to $FACE_ASSETS_HOME/dagster with the project's dagster.yaml copied in (it holds no
    secrets, only references to environment variables). A DAGSTER_HOME set by the user is used as it is.
    """
    if not os.environ.get("DAGSTER_HOME"):
        dagster_home = settings.home() / "dagster"
        dagster_home.mkdir(parents=True, exist_ok=True)
        target = dagster_home / "dagster.yaml"
        if not target.exists() or target.read_text() != REPO_DAGSTER_YAML.read_text():
            shutil.copyfile(REPO_DAGSTER_YAML, target)
        os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ["DATABASE_URL"] = embedded_postgres.app_database_url()
    # dagster-postgres speaks psycopg2 (its NOTIFY needs client-side parameters); SQLAlchemy 2.1 would pick psycopg 3.
    os.environ["FACE_ASSETS_DAGSTER_DATABASE_URL"] = (
        make_url(embedded_postgres.dagster_database_url())
        .set(drivername="postgresql+psycopg2")
        .render_as_string(hide_password=False)
    )
    os.environ.setdefault("FACE_ASSETS_HOME", str(settings.home()))
    ensure_storage(os.environ["FACE_ASSETS_DAGSTER_DATABASE_URL"])
    return Path(os.environ["DAGSTER_HOME"])


# Dagster's storage tables (runs, event logs, schedules): when they all exist there is nothing to create.
STORAGE_TABLES = ("runs", "event_logs", "jobs")
# Any fixed key: every face-assets process creating the storage waits on the same lock.
STORAGE_LOCK_KEY = 0x66615F64  # "fa_d"


def ensure_storage(url: str) -> None:
    """Create Dagster's storage tables once, before the webserver, the daemon and runs open it side by side.

    dagster-postgres creates missing tables when an instance opens; two processes doing so at the same moment on an
    empty database can fail with "type ... already exists" (a race its retry does not cover). A session-level
    advisory lock makes the first process create them while the others wait, then find them there. A storage that
    cannot be reached is left alone: commands that need no Dagster (review, summary, serve) still work, and those
    that do get Dagster's own error when they open it.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    missing = "SELECT count(*) FROM unnest(CAST(:tables AS text[])) AS t WHERE to_regclass(t) IS NULL"
    try:
        try:
            conn = engine.connect()
        except OperationalError:
            return
        with conn:
            if not conn.execute(text(missing), {"tables": list(STORAGE_TABLES)}).scalar():
                return
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STORAGE_LOCK_KEY})
            try:
                if conn.execute(text(missing), {"tables": list(STORAGE_TABLES)}).scalar():
                    from dagster import DagsterInstance

                    with DagsterInstance.get():  # opening the instance creates every storage's tables
                        pass
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STORAGE_LOCK_KEY})
    finally:
        engine.dispose()
