"""The project's Dagster instance (its dagster.yaml) on a fresh PostgreSQL database."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, job, op
from sqlalchemy.engine import make_url

from face_assets.db import instance as instance_env


@pytest.fixture
def project_instance(fresh_db, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_env.REPO_DAGSTER_YAML.read_text())
    url = make_url(fresh_db).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("FACE_ASSETS_DAGSTER_DATABASE_URL", url)
    with DagsterInstance.get() as instance:
        yield instance


@op
def nothing() -> None:
    pass


@job
def some_job():
    """A job with one op that does nothing: runs to record in the instance."""
    nothing()
