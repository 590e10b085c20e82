"""Dagster's storages keep a connection per process (face_assets.db.dagster_storage), and survive losing it.

The instance is the project's dagster.yaml on a fresh PostgreSQL database; connections are counted where SQLAlchemy
opens them, and a lost connection is a real one ended by the server (pg_terminate_backend)."""

from __future__ import annotations

import psycopg
from dagster import DagsterEvent, DagsterEventType
from dagster._core.events import EngineEventData
from sqlalchemy import event

from face_assets.db.dagster_storage import KeptEventLogStorage, KeptRunStorage, KeptScheduleStorage
from face_assets_tests.db.conftest import some_job

EVENTS = 40


def _log(instance, run_id: str, count: int) -> None:
    for k in range(count):
        instance.report_dagster_event(
            DagsterEvent(
                DagsterEventType.ENGINE_EVENT.value,
                job_name="some_job",
                message=f"event {k}",
                event_specific_data=EngineEventData(),
            ),
            run_id=run_id,
        )


def test_the_storages_keep_one_connection_for_many_events(project_instance):
    instance = project_instance
    assert isinstance(instance.run_storage, KeptRunStorage)
    assert isinstance(instance.event_log_storage, KeptEventLogStorage)
    assert isinstance(instance.schedule_storage, KeptScheduleStorage)
    opened = []
    for storage in (instance.run_storage, instance.event_log_storage):
        event.listen(storage._engine, "connect", lambda *_: opened.append(1))
    run = instance.create_run_for_job(some_job)
    _log(instance, run.run_id, EVENTS)
    assert len(instance.all_logs(run.run_id)) >= EVENTS
    # dagster-postgres alone opens one or more connections per statement (NullPool): here one per storage.
    assert len(opened) <= 2


def test_a_connection_the_server_ended_is_replaced(project_instance, fresh_db):
    instance = project_instance
    run = instance.create_run_for_job(some_job)
    _log(instance, run.run_id, 1)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        ended = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert ended >= 1  # the kept connections are gone, as after a PostgreSQL restart
    _log(instance, run.run_id, 3)
    assert instance.get_run_by_id(run.run_id) is not None
    assert len([e for e in instance.all_logs(run.run_id) if e.dagster_event]) >= 4
