"""No step that a database outage can fail: one test per kind of step, on the real servers (issue 17).

The application database (its own embedded server, servers.py) is stopped for OUTAGE_SECONDS at the worst moment
for each kind of step, while Dagster's storage, the webserver and the daemon stay up, as with a database server
that restarts:

- an asset step: the backfill's run has started; its steps fail on the stopped server, are put up for retry
  (DATABASE_RETRY) and the backfill completes with the same rows;
- an asset check: the check starts while the server is down (a run of the check alone), retries like the asset
  steps and passes once the server is back (before issue 17 it had no retry and failed the run);
- a sensor tick: the library sensor's ticks during the outage are skipped, saying the database is unavailable,
  never failed; its cursor is kept, and the first tick after it scans again from there;
- a schedule: its tick during the outage is skipped, saying so; the run it launches (rematch_job) retries its op
  through the outage and succeeds.

Every wait is on a state (a tick recorded, a step put up for retry, a run finished); the outage's length is the
fault being injected, the one duration here: whatever the machine's load, DATABASE_RETRY's retries (2, 6, 14 and
30 s apart) reach past it.
"""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from face_assets_tests.e2e import dagster_api as api
from face_assets_tests.e2e.scenario import RUN_TIMEOUT_SECONDS, ensure_videos_processed, snapshot, tag_rows
from face_assets_tests.e2e.servers import LOCATION, REPOSITORY, wait_for
from face_assets_tests.faults.test_backfill_faults import IN_PROCESS, _assert_same_rows, _launch, _retries

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 20
DATABASE_ASSETS = ("sampled_frames", "face_detections", "face_matches")
TICK_TIMEOUT_SECONDS = 180  # the library sensor ticks every 5 s; a busy daemon takes longer


def _retry_policies() -> dict[str, object]:
    from face_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    policies = {}
    for key in graph.get_all_asset_keys():
        name = key.to_user_string()
        if name in DATABASE_ASSETS:
            policies[name] = graph.assets_def_for_key(key).op.retry_policy
    return policies


class Outage:
    """The application database stopped from `with` to the end of the block, which lasts at least `seconds`."""

    def __init__(self, servers, seconds: float = OUTAGE_SECONDS):
        self.servers, self.seconds = servers, seconds

    def __enter__(self) -> Outage:
        self.servers.stop_app_database()
        self.started, self.wall_started = time.monotonic(), time.time()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(self.servers.app_url, connect_timeout=3).close()
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                # The length of the outage: the fault itself, not a wait for something to happen.
                time.sleep(max(0.0, self.seconds - (time.monotonic() - self.started)))
        finally:
            self.servers.start_app_database()


def _check_outcomes(servers, run_id: str) -> tuple[set[str], list[tuple[str, bool, bool]]]:
    """The checks the run planned, and each evaluation: (check name, passed, whether it said it could not run)."""
    with psycopg.connect(servers.dagster_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT dagster_event_type, event FROM event_logs WHERE run_id = %s"
            " AND dagster_event_type IN ('ASSET_CHECK_EVALUATION_PLANNED', 'ASSET_CHECK_EVALUATION')",
            (run_id,),
        ).fetchall()
    from dagster import EventLogEntry
    from dagster._serdes import deserialize_value

    planned, evaluations = set(), []
    for kind, event in rows:
        data = deserialize_value(event, EventLogEntry).dagster_event.event_specific_data
        if kind == "ASSET_CHECK_EVALUATION_PLANNED":
            planned.add(data.check_name)
        else:
            said = json.dumps({k: getattr(v, "value", str(v)) for k, v in (data.metadata or {}).items()})
            evaluations.append((data.check_name, data.passed, "could_not_run" in said or "could not run" in said))
    return planned, evaluations


def _assert_succeeded_after_retries(servers, run_id: str, what: str) -> None:
    finished = api.wait_run(servers, run_id, RUN_TIMEOUT_SECONDS)
    assert finished["status"] == "SUCCESS", f"{what}: {api.failure_messages(servers, run_id)}"
    assert _retries(servers, run_id) >= 1, f"{what}: no step was put up for retry: did it meet the outage?"


# --- an asset step --------------------------------------------------------------------------------------------


def test_asset_steps_retry_through_an_outage_and_the_backfill_completes(servers):
    missing = [name for name, policy in _retry_policies().items() if policy is None]
    assert not missing, f"no RetryPolicy on {missing}: a database restart fails the backfill"
    assert set(_retry_policies()) == set(DATABASE_ASSETS)
    videos = ensure_videos_processed(servers)
    ids = sorted(videos.values())
    before, tags_before = snapshot(servers, ids), tag_rows(servers, ids)

    # The backfill starts while the server is down, so its steps meet the outage however fast the machine is
    # (stopping the server once the run had started raced a run that finished its steps first).
    with Outage(servers):
        backfill_id = _launch(servers, [str(i) for i in ids], IN_PROCESS, "faults: database outage during a backfill")

        def run_started():
            runs = api.backfill(servers, backfill_id)["runs"]
            return runs[0]["id"] if runs and runs[0]["status"] == "STARTED" else None

        run_id = wait_for(run_started, RUN_TIMEOUT_SECONDS, "the backfill's run started", interval=0.5)
        wait_for(
            lambda: _retries(servers, run_id),
            RUN_TIMEOUT_SECONDS,
            "a step failing on the stopped database and put up for retry",
            interval=0.5,
            on_timeout=lambda: api.failure_messages(servers, run_id),
        )

    done = api.wait_backfill(servers, backfill_id, RUN_TIMEOUT_SECONDS)
    assert all(r["status"] == "SUCCESS" for r in done["runs"]), [
        api.failure_messages(servers, r["id"]) for r in done["runs"]
    ]
    assert done["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), done
    assert _retries(servers, run_id) >= 1
    for run in done["runs"]:  # each check ran, and passed, once the server was back
        planned, evaluations = _check_outcomes(servers, run["id"])
        assert planned and planned == {name for name, _, _ in evaluations}, (planned, evaluations)
        assert all(passed and not could_not_run for _, passed, could_not_run in evaluations), evaluations
    _assert_same_rows(servers, ids, before, tags_before, "after the outage")


# --- an asset check -------------------------------------------------------------------------------------------

CHECK = ("face_detections", "processed_videos_have_scans")  # the check of issue 17's failed run


def test_a_check_that_starts_during_an_outage_retries_and_passes(servers):
    videos = ensure_videos_processed(servers)
    partition = str(min(videos.values()))
    with Outage(servers):  # the worst moment: the check's first attempt finds no server
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
                "pipelineName": "__ASSET_JOB",
                "assetSelection": [],
                "assetCheckSelection": [{"assetKey": {"path": [CHECK[0]]}, "name": CHECK[1]}],
            },
            "runConfigData": IN_PROCESS,
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
        result = servers.graphql(api.LAUNCH_RUN, {"executionParams": params})["launchPipelineExecution"]
        run_id = api._check(result, "LaunchRunSuccess", "a run of the check alone")["run"]["runId"]
        wait_for(
            lambda: _retries(servers, run_id),
            RUN_TIMEOUT_SECONDS,
            "the check failing on the stopped database and put up for retry",
            interval=0.5,
            on_timeout=lambda: api.failure_messages(servers, run_id),
        )
    _assert_succeeded_after_retries(servers, run_id, "the check's run")
    assert _check_outcomes(servers, run_id) == ({CHECK[1]}, [(CHECK[1], True, False)])  # ran once it was back


# --- a sensor tick --------------------------------------------------------------------------------------------

TICKS = """
query Ticks($selector: SensorSelector!, $after: Float) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 200, afterTimestamp: $after) {
      status timestamp skipReason cursor error { message } } } }
  }
}
"""


def _ticks(servers, sensor: str, after: float | None = None) -> list[dict]:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": sensor}
    result = servers.graphql(TICKS, {"selector": selector, "after": after})["sensorOrError"]
    return sorted(api._check(result, "Sensor", sensor)["sensorState"]["ticks"], key=lambda t: t["timestamp"])


def _scans(cursor: str | None) -> int:
    return int(json.loads(cursor or "{}").get("scans", 0))


def _unavailable(tick: dict) -> bool:
    return tick["status"] == "SKIPPED" and (tick["skipReason"] or "").startswith("database unavailable")


def test_sensor_ticks_during_an_outage_are_skipped_and_the_cursor_is_kept(servers):
    ensure_videos_processed(servers)
    last = wait_for(
        lambda: [t for t in _ticks(servers, "library_sensor") if t["status"] != "STARTED" and t["cursor"]],
        TICK_TIMEOUT_SECONDS,
        "a library_sensor tick with a cursor",
    )[-1]
    scans_before = _scans(last["cursor"])
    with Outage(servers) as outage:
        skipped = wait_for(
            lambda: [t for t in _ticks(servers, "library_sensor", outage.wall_started) if _unavailable(t)],
            TICK_TIMEOUT_SECONDS,
            "a library_sensor tick skipped because the database is unavailable",
            on_timeout=lambda: str(_ticks(servers, "library_sensor", outage.wall_started)),
        )
    back = time.time()
    resumed = wait_for(
        lambda: [
            t
            for t in _ticks(servers, "library_sensor", back)
            if t["status"] in ("SUCCESS", "SKIPPED") and not _unavailable(t) and _scans(t["cursor"]) > scans_before
        ],
        TICK_TIMEOUT_SECONDS,
        "the library sensor scanning again after the outage, its cursor continued",
        on_timeout=lambda: str(_ticks(servers, "library_sensor", back)),
    )
    assert resumed
    for tick in skipped:  # a skipped tick keeps the cursor it found: the scan count never goes back
        assert tick["cursor"] is None or _scans(tick["cursor"]) >= scans_before, tick
    for sensor in ("library_sensor", "creator_pictures_sensor"):
        failed = [t for t in _ticks(servers, sensor, outage.wall_started) if t["status"] == "FAILURE"]
        assert not failed, f"{sensor} failed a tick because of the outage: {failed}"


# --- a schedule -----------------------------------------------------------------------------------------------

SCHEDULE_DRY_RUN = """
mutation DryRun($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick { evaluationResult { skipReason error { message } runRequests { runKey } } }
    ... on PythonError { message }
  }
}
"""


def _schedule_tick(servers, schedule: str) -> dict:
    """The schedule's tick evaluated now by its code server, as the daemon's scheduler does at its cron time (the
    UI's "Test schedule")."""
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "scheduleName": schedule}
    result = servers.graphql(SCHEDULE_DRY_RUN, {"selector": selector, "timestamp": time.time()}, timeout=120)
    return api._check(result["scheduleDryRun"], "DryRunInstigationTick", schedule)["evaluationResult"]


def test_a_schedule_tick_during_an_outage_is_skipped_and_its_run_retries_through_it(servers):
    ensure_videos_processed(servers)
    before = _schedule_tick(servers, "rematch_schedule")
    assert before["error"] is None, before
    with Outage(servers):
        during = _schedule_tick(servers, "rematch_schedule")
        assert during["error"] is None, f"the tick failed on the outage instead of skipping: {during['error']}"
        assert during["skipReason"].startswith("database unavailable"), during
        assert not during["runRequests"]
        # The run the schedule requests when the database answers, launched while it does not.
        run_id = api.launch_run(servers, "rematch_job", run_config=IN_PROCESS)
        wait_for(
            lambda: _retries(servers, run_id),
            RUN_TIMEOUT_SECONDS,
            "rematch_faces failing on the stopped database and put up for retry",
            interval=0.5,
            on_timeout=lambda: api.failure_messages(servers, run_id),
        )
    _assert_succeeded_after_retries(servers, run_id, "rematch_job")
    after = _schedule_tick(servers, "rematch_schedule")
    assert after["error"] is None and not (after["skipReason"] or "").startswith("database unavailable"), after
