"""`LocalRunLauncher`: Dagster's DefaultRunLauncher whose run workers Dagster's run monitoring can see die.

dagster.yaml launches runs with it (run workers are processes of the code server on this machine, as with the
DefaultRunLauncher) and turns run monitoring on. The DefaultRunLauncher cannot tell the monitoring daemon whether a
run's worker is alive, so a run whose worker died without writing its end (`face-assets dev` stopped while the
database was down, the worker killed, the machine rebooted) stayed STARTED forever. This launcher answers from the
worker's process id, which the worker's RUN_START event records: a process that is gone (or whose id now belongs to
a process started later) means the worker died, and the monitoring daemon marks the run failed with that reason, on
its next pass (`run_monitoring.poll_interval_seconds`, and at once when the daemon starts again).

Only runs launched here through a code server on this machine are judged; for any other (runs of
`face-assets run`, which execute in its own process, or a code server on another host) the answer is "running", as
Dagster assumes without run monitoring.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from dagster import DagsterEventType, DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import GRPC_INFO_TAG

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "", None})
# Seconds a worker's recorded start may precede its process's creation time (clock granularity).
CLOCK_SLACK_SECONDS = 2.0


def process_started_before(pid: int, timestamp: float) -> bool:
    """Whether a live (not zombie) process `pid` exists that was created by `timestamp`, i.e. is the same process
    that recorded an event at `timestamp` rather than a later one given the same id."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= timestamp + CLOCK_SLACK_SECONDS
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # it exists (another user's): assume it is the worker


def _launched_on_this_host(run: DagsterRun) -> bool:
    info: Any = run.tags.get(GRPC_INFO_TAG)
    if not info:
        return False  # not launched through a code server (an in-process run of `face-assets run`)
    try:
        grpc = json.loads(info)
    except ValueError:
        return False
    return "socket" in grpc or grpc.get("host") in LOCAL_HOSTS or grpc.get("host") == socket.gethostname()


class LocalRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher + check_run_worker_health from the worker's process id (see the module docstring)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if not _launched_on_this_host(run):
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not launched by a code server on this machine")
        records = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_START, limit=1, ascending=False
        ).records
        event = records[0].event_log_entry if records else None
        pid = event.dagster_event.pid if event and event.dagster_event else None
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run worker has not started yet")
        if process_started_before(pid, event.timestamp):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is running")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run worker (pid {pid}) is gone without having finished the run: the process running it was "
            "stopped or killed (e.g. `face-assets dev` stopped while it ran)",
        )
