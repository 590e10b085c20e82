"""Faults during backfills on the real servers: a step process killed, backfills racing (the database going away,
for every kind of step: test_database_outage.py, which shares these helpers).

Every test starts from the two videos the library sensor processed, and ends with the same rows: no duplicate, no
lost face, no lost tag.

The overlap test runs its backfills with the in-process executor (runConfigData, as the Launchpad's config editor
would send): the faults are in the database, and a process per step would only add minutes. The kill test keeps the
default multiprocess executor: it needs a step process to kill.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psycopg
import pytest

from face_assets_tests.e2e import dagster_api as api
from face_assets_tests.e2e.scenario import (
    RUN_TIMEOUT_SECONDS,
    ensure_videos_processed,
    snapshot,
    tag_rows,
)
from face_assets_tests.e2e.servers import wait_for

pytestmark = pytest.mark.e2e

IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def _launch(servers, partitions, run_config=None, title="") -> str:
    """A backfill of the video assets over `partitions` (the UI's mutation; optional run config)."""
    from face_assets_tests.e2e.dagster_api import LAUNCH_PARTITION_BACKFILL, _check

    params = {
        "assetSelection": [{"path": [k]} for k in api.processing_asset_keys(servers)],
        "partitionNames": partitions,
        "fromFailure": False,
        "tags": [],
        "title": title,
    }
    if run_config:
        params["runConfigData"] = run_config
    result = servers.graphql(LAUNCH_PARTITION_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
    return _check(result, "LaunchBackfillSuccess", "launchPartitionBackfill")["backfillId"]


def _assert_same_rows(servers, ids, before, tags_before, what: str) -> None:
    after = snapshot(servers, ids)
    assert after.duplicates == 0, f"{what}: duplicate detections"
    assert after.count == before.count, f"{what}: {before.count} detections before, {after.count} after"
    assert not before.differences(after), f"{what}: {before.differences(after)}"
    assert tag_rows(servers, ids) == tags_before, f"{what}: creator tags changed"
    missing = [
        p
        for (p,) in servers.app(
            "SELECT crop_path FROM video_face_detections WHERE video_id = ANY(%s)"
            " UNION ALL SELECT path FROM video_frames WHERE video_id = ANY(%s)",
            (ids, ids),
        )
        if p and not Path(p).is_file()
    ]
    assert not missing, f"{what}: rows point at files that do not exist: {missing[:5]}"


def _retries(servers, run_id: str) -> int:
    """How many times a step of the run was put up for retry."""
    return sum(e["__typename"] == "ExecutionStepUpForRetryEvent" for e in api.run_messages(servers, run_id))


def _step_pid(servers, run_id: str, step_key: str):
    """The pid of the process that runs `step_key` (from its STEP_START event in Dagster's storage)."""
    with psycopg.connect(servers.dagster_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT event FROM event_logs WHERE run_id = %s AND step_key = %s AND dagster_event_type = 'STEP_START'"
            " ORDER BY id DESC LIMIT 1",
            (run_id, step_key),
        ).fetchone()
    return json.loads(row[0])["dagster_event"]["pid"] if row else None


def test_a_step_process_killed_mid_partition_and_reexecuted_leaves_identical_rows(servers):
    videos = ensure_videos_processed(servers)
    ids = sorted(videos.values())
    before, tags_before = snapshot(servers, ids), tag_rows(servers, ids)
    db_start = servers.app("SELECT now()")[0][0]

    backfill_id = _launch(servers, [str(i) for i in ids], title="faults: kill -9 a step")  # multiprocess executor
    run_id = wait_for(
        lambda: (api.backfill(servers, backfill_id)["runs"] or [{}])[0].get("id"),
        RUN_TIMEOUT_SECONDS,
        "the backfill's run",
        interval=0.5,
    )
    pid = wait_for(
        lambda: _step_pid(servers, run_id, "face_detections"),
        RUN_TIMEOUT_SECONDS,
        "face_detections started",
        interval=0.2,
    )

    # Kill it when one video's new faces are committed and the other's are being computed.
    def one_video_committed():
        return (
            servers.app(
                "SELECT count(*) FROM video_face_scans WHERE video_id = ANY(%s) AND processed_at > %s", (ids, db_start)
            )[0][0]
            >= 1
        )

    wait_for(one_video_committed, RUN_TIMEOUT_SECONDS, "the first video's detections committed", interval=0.05)
    os.kill(pid, signal.SIGKILL)
    half = snapshot(servers, ids)
    committed = servers.app(
        "SELECT count(*) FROM video_face_scans WHERE video_id = ANY(%s) AND processed_at > %s", (ids, db_start)
    )[0][0]
    assert committed < len(ids), "the step finished both videos before it was killed: no partition was interrupted"
    # Each video is one transaction: the killed one kept its old faces, the committed one has its new faces.
    assert half.duplicates == 0 and half.count == before.count, "a killed step left a video half written"

    finished = api.wait_run(servers, run_id, RUN_TIMEOUT_SECONDS)
    if finished["status"] == "FAILURE":  # no retry policy on the step: re-execute from failure, as the UI offers
        again = api.reexecute_from_failure(servers, run_id)
        finished = api.wait_run(servers, again, RUN_TIMEOUT_SECONDS)
        assert finished["status"] == "SUCCESS", api.failure_messages(servers, again)
    else:  # the step's RetryPolicy re-executed it in the same run
        assert finished["status"] == "SUCCESS", api.failure_messages(servers, run_id)
        assert _retries(servers, run_id) >= 1, "the run succeeded although its step process was killed?"
    assert api.wait_backfill(servers, backfill_id, RUN_TIMEOUT_SECONDS)["status"] in api.FINISHED_BACKFILL
    _assert_same_rows(servers, ids, before, tags_before, "after kill -9 and re-execution")


def test_two_overlapping_backfills_at_once_neither_deadlock_nor_duplicate(servers):
    videos = ensure_videos_processed(servers)
    ids = sorted(videos.values())
    before, tags_before = snapshot(servers, ids), tag_rows(servers, ids)
    everything = [str(i) for i in ids]
    first = _launch(servers, everything, IN_PROCESS, "faults: overlap A")
    second = _launch(servers, everything[:1], IN_PROCESS, "faults: overlap B")
    for backfill_id in (first, second):
        done = api.wait_backfill(servers, backfill_id, RUN_TIMEOUT_SECONDS)  # a deadlock would time out here
        assert done["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), done
        assert all(r["status"] == "SUCCESS" for r in done["runs"]), [
            api.failure_messages(servers, r["id"]) for r in done["runs"]
        ]
    _assert_same_rows(servers, ids, before, tags_before, "after two overlapping backfills")
    waiting = servers.app("SELECT count(*) FROM pg_locks WHERE NOT granted")[0][0]
    assert waiting == 0
