"""Shared fixtures: the real fixture data beside the checkout and a real embedded PostgreSQL + pgvector.

Each test that needs a database gets its own database on one embedded server started for the session.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
LEGACY_DB = FIXTURES / "legacy" / "video_library.db"
SCHEMA_ONLY_DB = FIXTURES / "legacy" / "schema_only.db"
LIBRARY = FIXTURES / "library"
MODEL_ROOT = FIXTURES


def pytest_configure(config):
    # All test state (embedded server, Dagster home, frames) goes to one throwaway folder, never ./.face_assets.
    base = Path(os.environ.get("FACE_ASSETS_TEST_HOME", "/tmp/face_assets_test"))
    if base.exists():
        shutil.rmtree(base / "runs", ignore_errors=True)
    (base / "runs").mkdir(parents=True, exist_ok=True)
    os.environ["FACE_ASSETS_HOME"] = str(base)
    for var in (
        "DATABASE_URL",
        "FACE_ASSETS_DAGSTER_DATABASE_URL",
        "FACE_ASSETS_LEGACY_DB",
        "FACE_ASSETS_PATH_MAP",
        "FACE_ASSETS_LIBRARY",
        "DAGSTER_HOME",
    ):
        os.environ.pop(var, None)
    os.environ["FACE_ASSETS_MODEL"] = "buffalo_sc"
    os.environ["FACE_ASSETS_MODEL_ROOT"] = str(MODEL_ROOT)
    os.environ["FACE_ASSETS_PROVIDERS"] = "CPUExecutionProvider"
    os.environ["FACE_ASSETS_ALLOW_MODEL_DOWNLOAD"] = "0"  # nothing downloads at test time


def require_fixtures() -> None:
    if not LEGACY_DB.exists():
        pytest.skip(f"fixture data not found at {FIXTURES} (expected ../shared/fixtures beside the checkout)")


# Debian's Chromium, driven by Playwright (web/test_browser.py, e2e/test_e2e_servers.py).
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_or_skip() -> None:
    """Skip saying what is missing (Chromium, Playwright); with FACE_ASSETS_E2E_REQUIRE_BROWSER=1 fail instead."""
    required = os.environ.get("FACE_ASSETS_E2E_REQUIRE_BROWSER") == "1"
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} not found: install Debian's chromium (`make install` does as root)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the Python package playwright is not installed (test extra)"
    if missing:
        if required:
            pytest.fail(f"FACE_ASSETS_E2E_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)


@contextmanager
def fixture_library_env(url: str, home: Path):
    """The environment of a whole-pipeline run on the fixture library (`face-assets run`'s path): database `url`,
    FACE_ASSETS_HOME `home`, the fixture legacy database and its /srv/media root mapped to the fixture library."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        mp.setenv("FACE_ASSETS_HOME", str(home))
        mp.setenv("FACE_ASSETS_LEGACY_DB", str(LEGACY_DB))
        mp.setenv("FACE_ASSETS_PATH_MAP", f"/srv/media={LIBRARY}")
        yield mp


@pytest.fixture(scope="session")
def truth() -> dict:
    require_fixtures()
    return json.loads((FIXTURES / "truth.json").read_text())


@pytest.fixture(scope="session")
def pg_server() -> str:
    """URL of the embedded server's maintenance database."""
    from face_assets.db import embedded_postgres

    return embedded_postgres.start()


def _create_database(server_url: str, prefix: str) -> str:
    from face_assets.db.embedded_postgres import with_database

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url, name)


def _drop_database(server_url: str, url: str) -> None:
    from sqlalchemy.engine import make_url

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(make_url(url).database)))


@pytest.fixture
def fresh_db(pg_server):
    """A new, empty application database for one test."""
    url = _create_database(pg_server, "t")
    yield url
    _drop_database(pg_server, url)


@pytest.fixture(scope="module")
def module_db(pg_server):
    """A new, empty application database shared by one test module."""
    url = _create_database(pg_server, "m")
    yield url
    _drop_database(pg_server, url)


@pytest.fixture
def database(fresh_db):
    from face_assets.defs.resources import PostgresResource

    return PostgresResource(url=fresh_db)


@contextmanager
def postgres_dagster_instance(pg_server: str, home: Path) -> Iterator[Any]:
    """A real Dagster instance in `home` whose storage is a new PostgreSQL database (dagster-postgres), as in
    production; the database is dropped afterwards."""
    from dagster import instance_for_test
    from sqlalchemy.engine import make_url

    url = _create_database(pg_server, "dg")
    storage_url = make_url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    with instance_for_test(
        temp_dir=str(home), overrides={"storage": {"postgres": {"postgres_url": storage_url}}}
    ) as instance:
        yield instance
    _drop_database(pg_server, url)


@pytest.fixture
def dagster_instance(pg_server, tmp_path):
    """A real Dagster instance on PostgreSQL storage for one test."""
    (tmp_path / "dagster_home").mkdir()
    with postgres_dagster_instance(pg_server, tmp_path / "dagster_home") as instance:
        yield instance


def migrate_fixture_legacy_db(url: str, legacy_db: Path = LEGACY_DB, path_map: str | None = None) -> None:
    """Migrate a legacy database into `url` and create the face schema, as the pipeline's first assets do."""
    from face_assets.db.sql_files import run_sql_file
    from face_assets.migration.legacy_schema import LegacySchema
    from face_assets.migration.loader import migrate_table
    from face_assets.settings import PathMap

    schema = LegacySchema.read(legacy_db)
    mapping = PathMap.parse(path_map if path_map is not None else f"/srv/media={LIBRARY}")
    with psycopg.connect(url) as conn:
        for name in schema.load_order:
            with conn.transaction():
                migrate_table(conn, schema, name, mapping)
        run_sql_file(conn, "face/schema.sql")


@pytest.fixture
def migrated_db(fresh_db) -> str:
    """A fresh database holding the migrated fixture legacy database and the face schema."""
    require_fixtures()
    migrate_fixture_legacy_db(fresh_db)
    return fresh_db


@pytest.fixture(scope="module")
def module_migrated_db(module_db) -> str:
    """Like `migrated_db`, shared by one test module."""
    require_fixtures()
    migrate_fixture_legacy_db(module_db)
    return module_db


@pytest.fixture(scope="module")
def module_dagster_instance(pg_server, tmp_path_factory):
    """Like `dagster_instance`, shared by one test module (creating one costs seconds)."""
    with postgres_dagster_instance(pg_server, tmp_path_factory.mktemp("dagster_home")) as instance:
        yield instance
