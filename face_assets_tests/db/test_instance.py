"""The Dagster instance's environment: its storage is created once, however many processes open it at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
from sqlalchemy.engine import make_url

from face_assets.db import instance

OPENERS = 4  # the webserver, the daemon, a run and the review app, starting together on an empty database

# argv: the storage URL, then the moment to open it at (all openers loaded first, so they really race), or 0.
SCRIPT = """
import sys, time
if float(sys.argv[2]):
    import dagster, dagster_postgres
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
from face_assets.db.instance import ensure_storage
ensure_storage(sys.argv[1])
print("dagster" in sys.modules)
"""
LOAD_SECONDS = 12  # time for every opener to import Dagster before the common start


def _storage_env(tmp_path, url: str) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(instance.REPO_DAGSTER_YAML.read_text())
    return {**os.environ, "DAGSTER_HOME": str(home), "FACE_ASSETS_DAGSTER_DATABASE_URL": url}


def _open_together(env: dict[str, str], url: str, count: int) -> list[subprocess.CompletedProcess]:
    start_at = str(time.time() + LOAD_SECONDS) if count > 1 else "0"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, url, start_at],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def test_processes_opening_an_empty_storage_together_all_start_and_it_is_created_once(fresh_db, tmp_path):
    url = make_url(fresh_db).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    env = _storage_env(tmp_path, url)

    results = _open_together(env, url, OPENERS)

    assert [r.returncode for r in results] == [0] * OPENERS, "\n".join(r.stderr[-2000:] for r in results)
    with psycopg.connect(fresh_db) as conn:
        present = conn.execute(
            "SELECT count(*) FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NOT NULL",
            [list(instance.STORAGE_TABLES)],
        ).fetchone()[0]
        stamped = conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
    assert present == len(instance.STORAGE_TABLES)
    assert stamped == 1  # one schema version: created by one process, not several half-way

    # Once it exists, opening it again creates nothing and does not even load Dagster.
    again = _open_together(env, url, 1)[0]
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "False"


def test_a_storage_that_cannot_be_reached_is_left_to_dagster():
    # Nothing listens on port 1: commands that need no Dagster (review, summary) are not stopped by it.
    instance.ensure_storage("postgresql+psycopg2://nobody:secret@127.0.0.1:1/dagster?connect_timeout=2")
