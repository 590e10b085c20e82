"""Prepares the environment the Dagster instance needs (dagster.yaml reads everything from it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from face_assets import embedded_postgres, settings

REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


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
        make_url(embedded_postgres.dagster_database_url()).set(drivername="postgresql+psycopg2")
        .render_as_string(hide_password=False)
    )
    os.environ.setdefault("FACE_ASSETS_HOME", str(settings.home()))
    return Path(os.environ["DAGSTER_HOME"])
