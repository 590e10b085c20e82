"""Dagster's storages keep a connection per process (face_assets.db.dagster_storage), and survive losing it.

The instance is the project's dagster.yaml on a fresh PostgreSQL database; connections are counted where SQLAlchemy
opens them, and a lost connection is a real one ended by the server (pg_terminate_backend)."""

from __future__ import annotations

import psycopg
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEvent,
    DagsterEventType,
    DynamicPartitionsDefinition,
    MaterializeResult,
    asset,
    materialize,
)
from dagster._core.events import EngineEventData
from sqlalchemy import event

from face_assets.db.dagster_storage import (
    KeptEventLogStorage,
    KeptRunStorage,
    KeptScheduleStorage,
    dynamic_partitions_read_once,
)
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


CLIPS = DynamicPartitionsDefinition(name="clips")


@asset(partitions_def=CLIPS)
def clip_sizes(context) -> MaterializeResult:  # no annotation: this module postpones them
    with dynamic_partitions_read_once():
        for key in context.partition_keys:
            context.add_asset_metadata({"size": int(key) * 10}, partition_key=key)
    return MaterializeResult()


def test_partition_checks_read_the_partition_set_once_within_the_block(project_instance):
    instance = project_instance
    instance.add_dynamic_partitions("clips", [str(k) for k in range(1, 401)])
    reads, opened = [], []
    engine = instance.event_log_storage._engine
    event.listen(
        engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: reads.append(1) if "dynamic_partitions" in statement else None,
    )
    event.listen(engine, "connect", lambda *_: opened.append(1))
    tags = {"dagster/asset_partition_range_start": "101", "dagster/asset_partition_range_end": "300"}
    assert materialize([clip_sizes], instance=instance, tags=tags).success
    # Dagster alone: two existence checks and a read of all 400 keys per metadata call, 600 statements here.
    assert len(reads) <= 10
    # 200 materializations, each asking on a second connection whether the tags table exists: asked once, and
    # the second connection kept (before: one new connection per materialization).
    assert len(opened) <= 2
    for key in ("101", "250", "300"):
        records = AssetRecordsFilter(asset_key=AssetKey("clip_sizes"), asset_partitions=[key])
        [record] = instance.fetch_materializations(records, limit=1).records
        assert record.asset_materialization.metadata["size"].value == int(key) * 10
    assert instance.get_latest_materialization_event(AssetKey("clip_sizes")) is not None

    # Outside the block nothing is remembered: a partition added since is seen at once.
    with dynamic_partitions_read_once():
        assert not instance.has_dynamic_partition("clips", "401")
        instance.add_dynamic_partitions("clips", ["401"])
        assert not instance.has_dynamic_partition("clips", "401")  # read once, as the block promises
    assert instance.has_dynamic_partition("clips", "401")
    assert "401" in instance.get_dynamic_partitions("clips")
