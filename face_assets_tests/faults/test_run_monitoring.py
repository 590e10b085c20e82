"""A run whose worker process dies ends failed, never left STARTED forever, on the real servers.

While the code server that started the worker runs, it notices the worker's death itself and fails the run. When
the code server is gone too (`face-assets dev` stopped while the database was down, a rebooted machine), only run
monitoring can: dagster.yaml turns it on with face_assets.db.run_launcher.LocalRunLauncher, which tells the daemon
whether a run's worker still runs (that path: db/test_run_launcher.py, and cli/test_stopping.py after a real
`face-assets dev` stop). Here the servers run with that configuration, and whichever notices first must end the run.

The run is `rematch_job` (in-process: the worker is the only process of the run), held in the database by a lock the
test takes, so it is certainly in progress when its worker is killed; the servers, not the test, must then end it.
"""

from __future__ import annotations

import os
import signal

import psycopg
import pytest

from face_assets_tests.e2e import dagster_api as api
from face_assets_tests.e2e.scenario import ensure_videos_processed
from face_assets_tests.e2e.servers import wait_for
from face_assets_tests.faults.test_backfill_faults import IN_PROCESS

pytestmark = pytest.mark.e2e

MONITORING_TIMEOUT_SECONDS = 240  # run_monitoring.poll_interval_seconds is 30; a busy daemon takes longer


def _worker_pid(servers, run_id: str) -> int | None:
    import json

    with psycopg.connect(servers.dagster_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT event FROM event_logs WHERE run_id = %s AND dagster_event_type = 'PIPELINE_START' LIMIT 1",
            (run_id,),
        ).fetchone()
    return json.loads(row[0])["dagster_event"]["pid"] if row else None


def _waiting_on_the_lock(servers) -> bool:
    return bool(
        servers.app(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'face_assets' AND wait_event_type = 'Lock'"
        )[0][0]
    )


def test_a_run_whose_worker_was_killed_ends_failed(servers):
    ensure_videos_processed(servers)
    blocker = psycopg.connect(servers.app_url)
    try:
        blocker.execute("LOCK TABLE creator_face_embeddings, face_recognition_config IN ACCESS EXCLUSIVE MODE")
        run_id = api.launch_run(servers, "rematch_job", run_config=IN_PROCESS)
        wait_for(lambda: _waiting_on_the_lock(servers), 300, "the rematch run waiting in the database", interval=0.5)
        pid = wait_for(lambda: _worker_pid(servers, run_id), 60, "the run worker's RUN_START", interval=0.5)
        assert api.run(servers, run_id)["status"] == "STARTED"
        os.kill(pid, signal.SIGKILL)  # no chance to say anything
    finally:
        blocker.close()
    finished = api.wait_run(servers, run_id, MONITORING_TIMEOUT_SECONDS)
    assert finished["status"] == "FAILURE", finished
    messages = [e.get("message") or "" for e in api.run_messages(servers, run_id)]
    # Run monitoring (face_assets.db.run_launcher) or the code server (dagster's own crash explanation, whatever the
    # signal or exit code) said so.
    noticed = (f"the run worker (pid {pid}) is gone", f"Run execution process for {run_id} ")
    assert any(n in m for m in messages for n in noticed), messages[-5:]
