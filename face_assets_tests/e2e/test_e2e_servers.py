"""The project running for real: dagster-webserver + dagster-daemon on PostgreSQL, driven like a person would.

- the daemon's library_sensor finds new files with no other action, and its runs fill the face tables;
- a backfill launched with the UI's own GraphQL mutation completes, and a second one changes nothing;
- the rematch job (what rematch_schedule launches) runs through GraphQL;
- the UI in headless Chromium shows the asset graph and the face_detections partitions.

The servers are shared with faults/ (see servers.py); these tests run in file order, the first one doing the
registration the others build on (each calls ensure_videos_processed, so any of them also runs alone).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from face_assets_tests.conftest import BROWSER_ARGS, CHROMIUM, browser_or_skip
from face_assets_tests.e2e import dagster_api as api
from face_assets_tests.e2e.scenario import (
    NEW_VIDEOS,
    RUN_TIMEOUT_SECONDS,
    copy_new_videos,
    ensure_videos_processed,
    run_partitions,
    sensor_runs,
    snapshot,
    tag_rows,
    timed,
)
from face_assets_tests.e2e.servers import LOCATION, REPO, REPOSITORY, wait_for

pytestmark = pytest.mark.e2e

OUTPUT = REPO / ".test_output" / "e2e"
README_SCREENSHOT = REPO / "docs" / "screenshot-asset-graph.png"
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def record_timings():
    yield
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "timings.json").write_text(json.dumps(TIMINGS, indent=1))


SENSOR_TICKS = """
query SensorTicks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status ticks(limit: 100) { status runIds skipReason error { message } } } }
  }
}
"""


def test_the_daemon_sensor_registers_new_files_and_its_runs_fill_the_face_tables(servers):
    TIMINGS.update({f"servers_{k}": round(v, 1) for k, v in servers.timings.items()})
    start = time.monotonic()
    copy_new_videos(servers)
    videos = ensure_videos_processed(servers)  # nothing else: the daemon ticks the sensor, the queue launches runs
    timed("sensor_to_processed", TIMINGS, start)

    assert sorted(Path(p).name for p in videos) == sorted(NEW_VIDEOS)
    ids = sorted(videos.values())
    files = servers.app("SELECT path, status, error FROM library_files ORDER BY path")
    assert [(Path(p).name, s) for p, s, _ in files] == [(n, "registered") for n in sorted(NEW_VIDEOS)], files

    # Runs requested by the sensor, all successful, covering each new video exactly once (new files found in one
    # scan share a run: a partition range).
    runs = sensor_runs(servers)
    assert 1 <= len(runs) <= len(ids), runs
    assert all(r["status"] == "SUCCESS" for r in runs), [
        (r["runId"], r["status"], api.failure_messages(servers, r["runId"])) for r in runs if r["status"] != "SUCCESS"
    ]
    assert sorted(run_partitions(servers, runs)) == sorted(str(i) for i in ids)
    assert sorted(api.video_partition_keys(servers)) == sorted(str(i) for i in ids)

    # Two ticks at least: the files wait for one scan (size and mtime must hold still), then become videos.
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": "library_sensor"}
    state = servers.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]
    assert state["status"] == "RUNNING"
    ticks = list(reversed(state["ticks"]))  # oldest first
    launching = [i for i, t in enumerate(ticks) if t["runIds"]]
    assert launching, ticks
    assert any(t["status"] == "SKIPPED" for t in ticks[: launching[0]]), "the files were registered without waiting"
    assert not [t for t in ticks if t["status"] == "FAILURE"], [t["error"] for t in ticks if t["error"]]

    scans = dict(servers.app("SELECT video_id, faces FROM video_face_scans WHERE video_id = ANY(%s)", (ids,)))
    faces = dict(
        servers.app(
            "SELECT video_id, count(*) FROM video_face_detections WHERE video_id = ANY(%s) GROUP BY video_id", (ids,)
        )
    )
    for video_id in ids:
        assert faces.get(video_id, 0) >= 1 and scans[video_id] == faces[video_id], (scans, faces)
    frames = servers.app("SELECT count(*) FROM video_frames WHERE video_id = ANY(%s)", (ids,))[0][0]
    assert frames >= 2 * len(ids)

    steps = {s["stepKey"] for r in runs for s in api.run(servers, r["runId"])["stepStats"]}
    if "face_matches" in steps:
        # Matching ran: every face was looked at against the creator embeddings; slideshow_07 shows two creators.
        undecided = servers.app(
            "SELECT count(*) FROM video_face_detections WHERE video_id = ANY(%s) AND match_status = 'pending'"
            " AND matched_creator_id IS NULL",
            (ids,),
        )[0][0]
        assert undecided == 0
        tagged = [row for row in tag_rows(servers, ids) if row[2] == "face_recognition"]
        assert {row[0] for row in tagged} == {videos[str(servers.library / "slideshow_07.mp4")]}, tagged


def test_clusters_and_stats_refresh_by_themselves_after_the_sensor_runs(servers):
    """Declarative automation with the real daemon: after the sensor's runs, face_clusters and then
    face_recognition_stats materialize with nobody clicking (the cron window is a minute here)."""
    ensure_videos_processed(servers)
    last_video_run = max(float(r["endTime"] or 0) for r in sensor_runs(servers))

    def refreshed():
        done = {}
        for key in ("face_clusters", "face_recognition_stats"):
            events = api.materializations(servers, key)
            done[key] = [e for e in events if float(e["timestamp"]) / 1000 > last_video_run]
        return done if all(done.values()) else None

    start = time.monotonic()
    done = wait_for(
        refreshed, 300, "face_clusters and face_recognition_stats materialized by the automation sensor", interval=5
    )
    timed("automation_after_videos", TIMINGS, start)
    runs = {e["runId"] for events in done.values() for e in events}
    tags = {t["key"]: t["value"] for run_id in runs for t in api.run(servers, run_id)["tags"]}
    assert tags.get("dagster/from_automation_condition") == "true", tags  # launched by the automation sensor


def test_a_backfill_launched_like_the_ui_completes_and_a_second_one_changes_nothing(servers):
    videos = ensure_videos_processed(servers)
    ids = sorted(videos.values())
    keys = api.video_partition_keys(servers)
    assets = api.processing_asset_keys(servers)
    assert {"sampled_frames", "face_detections"} <= set(assets)
    before = snapshot(servers, ids)

    start = time.monotonic()
    first = api.launch_backfill(servers, assets, all_partitions=True, title="e2e: all video partitions")
    done = api.wait_backfill(servers, first, RUN_TIMEOUT_SECONDS)
    timed("backfill_1", TIMINGS, start)
    assert done["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), done
    assert done["runs"] and all(r["status"] == "SUCCESS" for r in done["runs"]), [
        api.failure_messages(servers, r["id"]) for r in done["runs"]
    ]
    after_first = snapshot(servers, ids)

    start = time.monotonic()
    second = api.launch_backfill(servers, assets, partition_names=keys, title="e2e: the same partitions again")
    done = api.wait_backfill(servers, second, RUN_TIMEOUT_SECONDS)
    timed("backfill_2", TIMINGS, start)
    assert done["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), done
    after_second = snapshot(servers, ids)

    for snap in (after_first, after_second):
        assert snap.duplicates == 0
        assert snap.count == before.count
        assert not before.differences(snap), before.differences(snap)
    assert after_second.detection_ids == after_first.detection_ids, (
        "re-detecting unchanged videos gave the same faces new ids (video_face_detections rows were replaced): "
        f"{after_first.detection_ids[:5]} -> {after_second.detection_ids[:5]}"
    )


def test_the_rematch_job_runs_through_graphql(servers):
    ensure_videos_processed(servers)
    jobs = servers.graphql("""query { repositoryOrError(repositorySelector: {repositoryLocationName: "face_assets",
        repositoryName: "__repository__"}) { ... on Repository { jobs { name } schedules { name cronSchedule
        scheduleState { status } } } } }""")["repositoryOrError"]
    schedules = {s["name"]: s for s in jobs["schedules"]}
    assert "rematch_schedule" in schedules, (
        f"rematch_schedule is not in the code location (schedules: {sorted(schedules)}): face_assets.definitions "
        "must wire face_assets.defs.faces.schedules.rematch_schedule and rematch_job"
    )
    assert schedules["rematch_schedule"]["scheduleState"]["status"] == "RUNNING"
    start = time.monotonic()
    run_id = api.launch_run(servers, "rematch_job", tags={"face_assets/e2e": "rematch"})
    finished = api.wait_run(servers, run_id, RUN_TIMEOUT_SECONDS)
    timed("rematch_run", TIMINGS, start)
    assert finished["status"] == "SUCCESS", api.failure_messages(servers, run_id)
    messages = " ".join(e.get("message") or "" for e in api.run_messages(servers, run_id))
    assert "re-match" in messages.lower() or "re-matched" in messages.lower(), messages[-2000:]


BROWSER_FLAGS = ["--headless", *BROWSER_ARGS]


def test_the_ui_shows_the_asset_graph_and_the_partitions_in_a_real_browser(servers):
    browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    videos = ensure_videos_processed(servers)
    partitions = len(api.video_partition_keys(servers))
    assert partitions == len(videos)
    servers.graphql("mutation { setNuxSeen }")  # the community pop-up would cover the graph
    OUTPUT.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    group_assets = sorted(
        n["assetKey"]["path"][-1] for n in api.asset_nodes(servers) if n["groupName"] == "face_recognition"
    )
    video_assets = api.processing_asset_keys(servers)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BROWSER_FLAGS)
        # 1920x1080: the graph of the group fits at a zoom where Dagster draws the nodes in full.
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(f"{servers.url}/locations/{LOCATION}/asset-groups/face_recognition/lineage")
            for name in ("face_schema", *video_assets):
                expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)
            page.wait_for_timeout(1500)  # let the edges and the partition bars settle
            graph_text = page.inner_text("body")
            shot = OUTPUT / "asset-graph.png"
            page.screenshot(path=str(shot))
            # Every asset of the group is a node (long names may be shortened in the middle: "face_recogn…_stats").
            assert all(name[:10] in graph_text for name in group_assets), (group_assets, graph_text[:2000])

            page.goto(f"{servers.url}/locations/{LOCATION}/asset-groups/face_recognition/list")
            expect(page.get_by_text(f"{partitions} partitions").first).to_be_visible(timeout=60_000)
            assert page.get_by_text(f"{partitions} partitions").count() >= len(video_assets)

            page.goto(f"{servers.url}/assets/face_detections?view=partitions")
            expect(page.get_by_text(f"Materialized ({partitions})").first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Failed (0)").first).to_be_visible()
            expect(page.get_by_text("Missing (0)").first).to_be_visible()
            for key in api.video_partition_keys(servers):  # the partition list names every video partition
                expect(page.get_by_text(key, exact=True).first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "face-detections-partitions.png"))
            text = page.inner_text("body")
        except BaseException:
            page.screenshot(path=str(OUTPUT / "browser-failure.png"))
            raise
        finally:
            browser.close()
    timed("browser", TIMINGS, start)
    assert "face_detections" in text
    assert not errors, errors
    # The README's picture: written when missing (or asked for), so a test run does not change a tracked file.
    if not README_SCREENSHOT.exists() or os.environ.get("FACE_ASSETS_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)
