"""A run whose worker died is marked failed by run monitoring, never left STARTED (face_assets.db.run_launcher).

The instance is the project's dagster.yaml (LocalRunLauncher, run monitoring on) on PostgreSQL storage; the run
worker is a real process that records the run's start the way a worker does (RUN_START, with its pid) and then
lives until the test ends it. The daemon's own pass over the run (`monitor_started_run`) decides, as it does every
`poll_interval_seconds` and when it starts. faults/test_database_outage.py kills a real worker under the daemon.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from dagster import DagsterRunStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from face_assets.db.run_launcher import LocalRunLauncher
from face_assets_tests.db.conftest import some_job

WORKER = """
import os, sys
from dagster import DagsterEvent, DagsterEventType, DagsterInstance
instance = DagsterInstance.get()
run = instance.get_run_by_id(sys.argv[1])
instance.report_dagster_event(
    DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name, pid=os.getpid()), run_id=run.run_id
)
print("started", flush=True)
sys.stdin.read()  # lives until the test closes its stdin
"""


def _start_worker(instance, run_id: str) -> subprocess.Popen:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, run_id], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout.readline().strip() == "started"  # its RUN_START is in the storage
    return worker


def _run(instance, grpc: dict | None):
    run = instance.create_run_for_job(some_job)
    if grpc is not None:
        instance.add_run_tags(run.run_id, {GRPC_INFO_TAG: json.dumps(grpc)})
    return run


def _monitor(instance, run_id: str) -> DagsterRunStatus:
    monitor_started_run(instance, None, instance.get_run_record_by_id(run_id), logging.getLogger("test"))
    return instance.get_run_by_id(run_id).status


def test_the_project_instance_monitors_runs_with_the_local_launcher(project_instance):
    assert isinstance(project_instance.run_launcher, LocalRunLauncher)
    assert project_instance.run_monitoring_enabled
    assert project_instance.run_launcher.supports_check_run_worker_health


def test_a_run_whose_worker_died_is_marked_failed_and_a_live_one_is_left_alone(project_instance):
    instance = project_instance
    run = _run(instance, {"host": "localhost", "socket": "/tmp/code-server.sock"})
    worker = _start_worker(instance, run.run_id)
    try:
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
        assert _monitor(instance, run.run_id) == DagsterRunStatus.STARTED  # alive: nothing happens
    finally:
        worker.stdin.close()
        worker.wait(timeout=60)
    assert _monitor(instance, run.run_id) == DagsterRunStatus.FAILURE
    reasons = [
        r.event_log_entry.dagster_event.message or r.event_log_entry.user_message
        for r in instance.get_records_for_run(run.run_id).records
        if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.event_type_value == "PIPELINE_FAILURE"
    ]
    assert any(f"the run worker (pid {worker.pid}) is gone" in (m or "") for m in reasons), reasons


def test_runs_not_launched_by_a_local_code_server_are_not_judged(project_instance):
    instance = project_instance
    for grpc in (None, {"host": "code-server.elsewhere.example", "port": 4000}):  # in-process, another machine
        run = _run(instance, grpc)
        worker = _start_worker(instance, run.run_id)
        worker.stdin.close()
        worker.wait(timeout=60)
        assert _monitor(instance, run.run_id) == DagsterRunStatus.STARTED


def test_the_library_sensors_runs_go_one_at_a_time(project_instance):
    # The limit as Dagster's run queue reads it from the project's dagster.yaml (issue 21: runs of the sensor side by
    # side on 2 cores took twice as long as one process): a second sensor run waits while one is in progress; a run
    # of anything else does not.
    from dagster._utils.tags import TagConcurrencyLimitsCounter

    from face_assets.defs.library.sensors import LIBRARY_SENSOR_NAME

    limits = project_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    sensor_tags = {"dagster/sensor_name": LIBRARY_SENSOR_NAME}
    running = project_instance.create_run_for_job(some_job, tags=sensor_tags)
    queued = project_instance.create_run_for_job(some_job, tags=sensor_tags)
    other = project_instance.create_run_for_job(some_job)
    assert not TagConcurrencyLimitsCounter(limits, []).is_blocked(queued)
    counter = TagConcurrencyLimitsCounter(limits, [running])
    assert counter.is_blocked(queued)
    assert not counter.is_blocked(other)
