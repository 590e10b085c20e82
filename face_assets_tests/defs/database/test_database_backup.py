"""`database_backup_job` run in process on real PostgreSQL, and its `database_backup` schedule."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from dagster import DefaultScheduleStatus

from face_assets.db import backup
from face_assets.db.retries import DATABASE_RETRY
from face_assets.defs.database.jobs import database_backup_job, dump_database
from face_assets.defs.database.schedules import database_backup
from face_assets.defs.resources import PostgresResource


def test_the_job_writes_a_backup_and_its_metadata_says_what(fresh_db, tmp_path, monkeypatch):
    with psycopg.connect(fresh_db) as conn:
        conn.execute("CREATE TABLE videos (id integer PRIMARY KEY)")
        conn.execute("INSERT INTO videos SELECT generate_series(1, 42)")
    monkeypatch.setenv("FACE_ASSETS_BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("FACE_ASSETS_BACKUP_KEEP", "1")

    outputs = []
    for _ in range(2):
        result = database_backup_job.execute_in_process(resources={"database": PostgresResource(url=fresh_db)})
        assert result.success
        event = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
        outputs.append({k: v.value for k, v in event.step_output_data.metadata.items()})

    first, second = outputs
    assert backup.list_backups(tmp_path) == [tmp_path / os.path.basename(second["file"])]
    assert second["size_bytes"] == (tmp_path / os.path.basename(second["file"])).stat().st_size > 0
    assert second["tables"] == 1 and second["rows"] == 42 and second["seconds"] > 0
    assert second["schema_version"] is None and second["kept"] == 1
    assert second["removed"] == [first["file"]]  # FACE_ASSETS_BACKUP_KEEP=1
    assert "| videos | 42 |" in second["rows_per_table"]


def test_the_step_retries_on_transient_database_errors():
    assert dump_database.retry_policy == DATABASE_RETRY


def test_the_schedule_is_on_by_default_every_night():
    assert database_backup.name == "database_backup" and database_backup.job_name == "database_backup_job"
    assert database_backup.default_status == DefaultScheduleStatus.RUNNING
    if not os.environ.get("FACE_ASSETS_BACKUP_CRON", "").strip():
        assert database_backup.cron_schedule == "0 2 * * *"


def test_the_schedule_takes_its_cron_from_the_environment():
    # The cron is read when the code location loads: load it as the daemon would, with the variable set.
    code = (
        "from face_assets.definitions import defs; s = defs.get_schedule_def('database_backup');"
        " print(s.cron_schedule, s.job_name)"
    )
    env = {**os.environ, "FACE_ASSETS_BACKUP_CRON": "15 4 * * 1-5"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "15 4 * * 1-5 database_backup_job"
