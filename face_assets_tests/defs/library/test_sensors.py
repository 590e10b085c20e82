"""`library_sensor` evaluated tick by tick on a real Dagster instance (PostgreSQL storage), and `scan_and_register`."""

import inspect
import json
import os
import shutil
import time

import psycopg
import pytest
from dagster import (
    AddDynamicPartitionsRequest,
    AssetExecutionContext,
    DefaultSensorStatus,
    Definitions,
    SensorResult,
    asset,
    build_sensor_context,
    define_asset_job,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from face_assets.defs.library.partitions import video_partitions
from face_assets.defs.library.sensors import (
    VIDEO_JOB_NAME,
    build_library_sensor,
    library_sensor,
    run_requests_for,
)
from face_assets.defs.resources import PostgresResource
from face_assets.library.scanner import PresentVideo, scan_and_register
from face_assets.video.probe import content_hash
from face_assets_tests.conftest import LIBRARY

VIDEOS = LIBRARY / "videos"


@pytest.fixture(scope="module")
def instance(module_dagster_instance):
    """One real Dagster instance on PostgreSQL storage, shared by this module's tests."""
    return module_dagster_instance


@pytest.fixture
def clean_instance(instance):
    """The shared instance without any `videos` partition."""
    for key in instance.get_dynamic_partitions(video_partitions.name):
        instance.delete_dynamic_partition(video_partitions.name, key)
    return instance


@pytest.fixture(scope="module")
def tmp_only_db(module_migrated_db):
    """The migrated database with its watched directory switched off: only FACE_ASSETS_LIBRARY roots are scanned."""
    with psycopg.connect(module_migrated_db) as conn:
        conn.execute("UPDATE watched_directories SET is_active = false")
    return module_migrated_db


class Ticker:
    """Evaluates the sensor like the daemon would: cursor carried over, partition requests applied."""

    def __init__(self, instance, url):
        self.instance, self.url, self.cursor = instance, url, None
        self.run_keys = []

    def __call__(self) -> SensorResult:
        context = build_sensor_context(
            instance=self.instance, resources={"database": PostgresResource(url=self.url)}, cursor=self.cursor
        )
        result = library_sensor(context)
        assert isinstance(result, SensorResult)
        for request in result.dynamic_partitions_requests:
            assert isinstance(request, AddDynamicPartitionsRequest) and request.partitions_def_name == "videos"
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = result.cursor
        self.run_keys += [r.run_key for r in result.run_requests]
        return result

    @staticmethod
    def added(result: SensorResult) -> list[str]:
        return [k for r in result.dynamic_partitions_requests for k in r.partition_keys]

    def partitions(self) -> set[str]:
        return set(self.instance.get_dynamic_partitions("videos"))

    def query(self, query, params=None):
        with psycopg.connect(self.url) as conn:
            return conn.execute(query, params).fetchall()


def test_sensor_ticks_on_the_fixture_library(clean_instance, migrated_db, truth, monkeypatch):
    monkeypatch.setenv("FACE_ASSETS_SETTLE_SECONDS", "0")  # the two-scan rule only (the fixture files are old)
    tick = Ticker(clean_instance, migrated_db)
    legacy_ids = {str(i) for i in truth["legacy_video_ids"].values()}
    new_paths = [str(LIBRARY / rel) for rel in truth["new_files_not_in_legacy_db"]]
    broken = {str(LIBRARY / rel) for rel in truth["broken_files"]}

    first = tick()
    assert set(tick.added(first)) == legacy_ids == tick.partitions()
    assert first.run_requests == [] and "no new video" in first.skip_reason.skip_message
    assert json.loads(first.cursor)["scans"] == 1 and json.loads(first.cursor)["waiting_files"] == 6
    assert tick.query(
        "SELECT id::text FROM videos WHERE is_available AND last_verified_at > now() - interval '1 hour'"
        " ORDER BY videos.id"
    ) == [(i,) for i in sorted(legacy_ids, key=int)]
    assert tick.query("SELECT count(*) FROM videos WHERE file_path = ANY(%s)", (new_paths,)) == [(0,)]
    assert set(tick.query("SELECT path, status FROM library_files")) == {
        (p, "waiting") for p in new_paths + sorted(broken)
    }

    second = tick()
    new_ids = dict(tick.query("SELECT file_path, id FROM videos WHERE file_path = ANY(%s)", (new_paths,)))
    assert set(new_ids) == set(new_paths)
    assert sorted(tick.added(second)) == sorted(str(i) for i in new_ids.values())
    assert second.skip_reason is None
    # The new videos go in one run, a partition range over exactly them (added last and contiguous).
    (run,) = second.run_requests
    added = tick.added(second)
    assert added[-len(new_ids) :] == [str(i) for i in sorted(new_ids.values(), key=lambda i: added.index(str(i)))]
    assert sorted(added[-len(new_ids) :]) == sorted(str(i) for i in new_ids.values())
    assert (run.tags[ASSET_PARTITION_RANGE_START_TAG], run.tags[ASSET_PARTITION_RANGE_END_TAG]) == (
        added[-len(new_ids)],
        added[-1],
    )
    assert run.partition_key is None and run.run_key.startswith(f"videos-{added[-len(new_ids)]}-{added[-1]}-")
    assert (
        run_requests_for(
            [
                PresentVideo(new_ids[p], p, content_hash(p), True)
                for p in sorted(new_paths, key=lambda p: added.index(str(new_ids[p])))
            ]
        )[0].run_key
        == run.run_key
    )  # the run key is a function of the videos and their content only
    assert tick.partitions() == legacy_ids | {str(i) for i in new_ids.values()}
    for path in new_paths:
        rel = os.path.relpath(path, LIBRARY)
        duration, width, height, file_hash = tick.query(
            "SELECT duration_seconds, width, height, file_hash FROM videos WHERE id = %s", (new_ids[path],)
        )[0]
        assert duration == pytest.approx(truth["videos"][rel]["duration"], abs=0.25)
        assert (width, height) == (truth["videos"][rel]["width"], truth["videos"][rel]["height"])
        assert file_hash == content_hash(path)
    errors = dict(tick.query("SELECT path, error FROM library_files WHERE status = 'error'"))
    assert set(errors) == broken and all(errors.values())
    assert "truncated" in errors[str(VIDEOS / "broken" / "truncated.mp4")]
    checked = tick.query("SELECT path, checked_at FROM library_files ORDER BY path")

    third = tick()
    assert third.run_requests == [] and third.dynamic_partitions_requests == []
    assert tick.query("SELECT path, checked_at FROM library_files ORDER BY path") == checked  # not retried
    assert json.loads(third.cursor)["known_errors"] == 3 and json.loads(third.cursor)["scans"] == 3
    assert len(tick.run_keys) == len(set(tick.run_keys)) == 1


def test_sensor_on_a_changing_library(clean_instance, tmp_only_db, tmp_path, monkeypatch):
    root = tmp_path / "library"
    root.mkdir()
    outside = tmp_path / "outside.mp4"
    shutil.copyfile(VIDEOS / "slideshow_01.mp4", outside)
    (root / "link.mp4").symlink_to(outside)
    shutil.copyfile(VIDEOS / "notes.txt", root / "notes.txt")
    (root / "empty.mkv").write_bytes(b"")
    (root / "fake.avi").write_text("not a video")
    locked = root / "locked.mp4"  # unreadable (for any user but root) and not a video anyway: an error either way
    locked.write_text("secret")
    locked.chmod(0)
    monkeypatch.setenv("FACE_ASSETS_LIBRARY", f"{root}:{tmp_path / 'not-mounted'}")
    tick = Ticker(clean_instance, tmp_only_db)

    # a file arriving in chunks is registered once it stopped changing for a tick
    data = (VIDEOS / "slideshow_08.mp4").read_bytes()
    target = root / "arriving.mp4"
    for written in (len(data) // 3, 2 * len(data) // 3, len(data)):
        target.write_bytes(data[:written])
        result = tick()
        assert result.run_requests == [] and tick.added(result) == []
        assert "roots missing" in result.skip_reason.skip_message and "not-mounted" in result.skip_reason.skip_message
    try:
        result = tick()
    finally:
        locked.chmod(0o644)
    (video_id,) = [vid for (vid,) in tick.query("SELECT id FROM videos WHERE file_path = %s", (str(target),))]
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [
        (str(video_id), f"video-{video_id}-{content_hash(target)}")
    ]
    errors = dict(tick.query("SELECT path, error FROM library_files WHERE status = 'error'"))
    assert set(errors) == {str(root / "empty.mkv"), str(root / "fake.avi"), str(locked)}
    if os.geteuid() != 0:
        assert "Permission denied" in errors[str(locked)]
    assert tick.query(
        "SELECT count(*) FROM library_files WHERE path LIKE %s OR path LIKE %s",
        (f"{root}/link.mp4", f"{root}/notes.txt"),
    ) == [(0,)]
    keys = tick.partitions()
    assert str(video_id) in keys

    result = tick()  # nothing changed: no run, no partition, no retry of the bad files
    assert result.run_requests == [] and result.dynamic_partitions_requests == []

    target.unlink()
    result = tick()
    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    assert tick.query("SELECT is_available FROM videos WHERE id = %s", (video_id,)) == [(False,)]
    assert tick.partitions() == keys  # the partition (and whatever it holds) stays

    target.write_bytes(data)
    result = tick()
    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    assert tick.query("SELECT is_available FROM videos WHERE id = %s", (video_id,)) == [(True,)]

    moved = root / "renamed.mp4"
    target.rename(moved)
    result = tick()
    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    assert tick.query("SELECT id, file_name, is_available FROM videos WHERE file_path = %s", (str(moved),)) == [
        (video_id, "renamed.mp4", True)
    ]
    assert len(tick.run_keys) == len(set(tick.run_keys))


def test_finished_files_are_registered_by_the_first_tick(clean_instance, tmp_only_db, tmp_path, monkeypatch):
    """A file untouched for FACE_ASSETS_SETTLE_SECONDS (default: the sensor interval) needs no second scan; a file
    written more recently waits for it, as before; each file gets exactly one run."""
    root = tmp_path / "library"
    root.mkdir()
    monkeypatch.setenv("FACE_ASSETS_LIBRARY", str(root))
    monkeypatch.delenv("FACE_ASSETS_SETTLE_SECONDS", raising=False)
    monkeypatch.setenv("FACE_ASSETS_SENSOR_INTERVAL", "30")
    finished, recent = root / "finished.mp4", root / "recent.mp4"
    shutil.copyfile(VIDEOS / "slideshow_07.mp4", finished)
    shutil.copyfile(VIDEOS / "slideshow_08.mp4", recent)
    now = time.time()
    os.utime(finished, (now - 40, now - 40))  # a finished download, moved in with its time
    os.utime(recent, (now - 5, now - 5))  # written 5 s ago: maybe still being written
    tick = Ticker(clean_instance, tmp_only_db)

    first = tick()
    ids = dict(
        tick.query("SELECT file_path, id FROM videos WHERE file_path = ANY(%s)", ([str(finished), str(recent)],))
    )
    assert list(ids) == [str(finished)]
    assert [r.partition_key for r in first.run_requests] == [str(ids[str(finished)])]
    assert json.loads(first.cursor)["waiting_files"] == 1
    assert tick.query("SELECT status FROM library_files WHERE path = %s", (str(recent),)) == [("waiting",)]

    second = tick()  # held still since the first scan: registered now
    (recent_id,) = [i for (i,) in tick.query("SELECT id FROM videos WHERE file_path = %s", (str(recent),))]
    assert [r.partition_key for r in second.run_requests] == [str(recent_id)]
    assert tick().run_requests == [] and len(tick.run_keys) == len(set(tick.run_keys)) == 2

    monkeypatch.setenv("FACE_ASSETS_SETTLE_SECONDS", "0")  # off: even a finished file waits for a second scan
    late = root / "late.mp4"
    shutil.copyfile(VIDEOS / "slideshow_01.mp4", late)
    os.utime(late, (now - 3600, now - 3600))
    assert tick().run_requests == []
    assert len(tick().run_requests) == 1


def test_a_drop_registered_over_several_ticks_runs_in_full_batches(clean_instance, tmp_only_db, tmp_path, monkeypatch):
    """When a tick's probing budget runs out, the new videos of a last partial batch wait for the next tick's: runs
    stay full, and each video is in exactly one run."""
    import face_assets.defs.library.sensors as sensors
    import face_assets.library.scanner as scanner

    root = tmp_path / "library"
    root.mkdir()
    monkeypatch.setenv("FACE_ASSETS_LIBRARY", str(root))
    monkeypatch.delenv("FACE_ASSETS_SETTLE_SECONDS", raising=False)
    old = time.time() - 3600  # finished files: registered by the first tick that probes them
    names = ["slideshow_01.mp4", "slideshow_02.mp4", "slideshow_07.mp4", "slideshow_08.mp4", "driving_d0.mp4"]
    for i, name in enumerate(names):
        shutil.copyfile(VIDEOS / name, root / f"clip{i}.mp4")
        os.utime(root / f"clip{i}.mp4", (old, old))
    clock = iter(range(10_000))  # each look at the clock is one second later: a budget of 3.5 s probes 3 files
    monkeypatch.setattr(scanner, "time", type("Clock", (), {"monotonic": staticmethod(lambda: next(clock))}))
    monkeypatch.setattr(sensors, "SENSOR_PROBE_BUDGET_SECONDS", 3.5)
    monkeypatch.setenv("FACE_ASSETS_SENSOR_RUN_VIDEOS", "2")
    tick = Ticker(clean_instance, tmp_only_db)

    first = tick()  # 3 registered, 2 deferred: one full run of 2, the third video waits for its partition
    assert json.loads(first.cursor)["deferred_files"] == 2 and json.loads(first.cursor)["new_videos"] == 3
    assert [len(tick.added(first))] == [int(r.tags["face_assets/videos"]) for r in first.run_requests] == [2]
    second = tick()  # the last 2 registered, nothing deferred: the held video and these two, in runs of 2 and 1
    assert json.loads(second.cursor)["deferred_files"] == 0
    assert len(tick.added(second)) == 3 and len(second.run_requests) == 2
    ids = [str(i) for (i,) in tick.query("SELECT id FROM videos WHERE file_path LIKE %s", (f"{root}/%",))]
    assert sorted(tick.added(first) + tick.added(second)) == sorted(ids) and len(ids) == 5
    assert tick().run_requests == [] and len(tick.run_keys) == len(set(tick.run_keys)) == 3


def test_settle_seconds_setting(monkeypatch):
    from face_assets import settings

    monkeypatch.delenv("FACE_ASSETS_SETTLE_SECONDS", raising=False)
    monkeypatch.setenv("FACE_ASSETS_SENSOR_INTERVAL", "12")
    assert settings.settle_seconds() == 12.0  # the same evidence as two scans an interval apart
    monkeypatch.setenv("FACE_ASSETS_SETTLE_SECONDS", "2.5")
    assert settings.settle_seconds() == 2.5
    monkeypatch.setenv("FACE_ASSETS_SETTLE_SECONDS", "0")
    assert settings.settle_seconds() == 0.0
    for bad in ("-1", "soon"):
        monkeypatch.setenv("FACE_ASSETS_SETTLE_SECONDS", bad)
        with pytest.raises(ValueError, match="FACE_ASSETS_SETTLE_SECONDS"):
            settings.settle_seconds()


def test_scan_and_register_in_one_go(clean_instance, tmp_only_db, tmp_path):
    root = tmp_path / "library"
    root.mkdir()
    shutil.copyfile(VIDEOS / "slideshow_07.mp4", root / "one.mp4")
    shutil.copyfile(VIDEOS / "driving_d0.mp4", root / "two.mov")
    (root / "broken.mp4").write_text("nope")
    database = PostgresResource(url=tmp_only_db)

    waited = []
    result = scan_and_register(clean_instance, database, extra_roots=[root], settle_seconds=0.2, sleep=waited.append)
    assert waited == [0.2]
    assert len(result.new_video_ids) == 2 and result.waiting == []
    assert [e.path for e in result.errors] == [str(root / "broken.mp4")]
    assert clean_instance.get_dynamic_partitions("videos") == [str(i) for i in result.new_video_ids]

    again = scan_and_register(clean_instance, database, extra_roots=[root], sleep=waited.append)
    assert waited == [0.2] and again.new_video_ids == [] and again.known_errors == [str(root / "broken.mp4")]
    assert clean_instance.get_dynamic_partitions("videos") == [str(i) for i in result.new_video_ids]

    shutil.copyfile(VIDEOS / "slideshow_08.mp4", root / "three.mp4")
    later = scan_and_register(clean_instance, database, extra_roots=[root], settle_seconds=0)
    assert later.waiting == [str(root / "three.mp4")] and later.new_video_ids == []


def test_sensor_skips_until_the_tables_exist(pg_server):
    # the server's maintenance database has none of the application's tables (nothing is written)
    result = library_sensor(build_sensor_context(resources={"database": PostgresResource(url=pg_server)}))
    assert result.run_requests == [] and "materialize" in result.skip_reason.skip_message


def test_sensor_definition_and_wiring(monkeypatch):
    import face_assets.defs.library.sensors

    assert VIDEO_JOB_NAME == "process_videos"
    assert face_assets.defs.library.sensors.scan_and_register is scan_and_register
    assert inspect.signature(scan_and_register).parameters["partitions_name"].default == video_partitions.name
    assert library_sensor.name == "library_sensor" and library_sensor.job_name == VIDEO_JOB_NAME
    assert library_sensor.default_status == DefaultSensorStatus.RUNNING
    assert library_sensor.required_resource_keys == {"database"}
    monkeypatch.setenv("FACE_ASSETS_SENSOR_INTERVAL", "7")
    assert build_library_sensor().minimum_interval_seconds == 6  # see test_the_sensor_ticks_at_the_settings_period
    monkeypatch.delenv("FACE_ASSETS_SENSOR_INTERVAL")
    assert build_library_sensor().minimum_interval_seconds == 29
    monkeypatch.setenv("FACE_ASSETS_SENSOR_INTERVAL", "soon")
    with pytest.raises(ValueError, match="FACE_ASSETS_SENSOR_INTERVAL"):
        build_library_sensor()

    @asset(partitions_def=video_partitions)
    def per_video(context: AssetExecutionContext) -> None:
        pass

    defs = Definitions(
        assets=[per_video],
        jobs=[define_asset_job(VIDEO_JOB_NAME, selection=[per_video])],
        sensors=[library_sensor],
        resources={"database": PostgresResource(url="postgresql://unused/none")},
    )
    Definitions.validate_loadable(defs)
    assert defs.resolve_sensor_def("library_sensor").job_name == VIDEO_JOB_NAME


def test_new_videos_are_batched_into_ranged_runs_of_at_most_videos_per_run(monkeypatch):
    """A drop of many files becomes a few runs over consecutive partitions, like a backfill; legacy videos none."""
    monkeypatch.delenv("FACE_ASSETS_SENSOR_RUN_VIDEOS", raising=False)
    VIDEOS_PER_RUN = 500  # the default (settings.sensor_run_videos)
    videos = [PresentVideo(1000 + i, f"/lib/{i}.mp4", f"h{i}", True) for i in range(2 * VIDEOS_PER_RUN + 7)]
    legacy = [PresentVideo(5, "/lib/old.mp4", "old", False)]
    requests = run_requests_for(legacy + videos)
    assert [int(r.tags["face_assets/videos"]) for r in requests] == [VIDEOS_PER_RUN, VIDEOS_PER_RUN, 7]
    covered = []
    for r in requests:
        start, end = int(r.tags[ASSET_PARTITION_RANGE_START_TAG]), int(r.tags[ASSET_PARTITION_RANGE_END_TAG])
        covered += list(range(start, end + 1))
    assert covered == [v.video_id for v in videos]  # each new video in exactly one run, none of the legacy one
    assert len({r.run_key for r in requests}) == 3
    assert [r.run_key for r in run_requests_for(videos)] == [r.run_key for r in requests]  # deterministic
    changed = [*videos[:1], PresentVideo(videos[1].video_id, videos[1].path, "other", True), *videos[2:]]
    assert run_requests_for(changed)[0].run_key != requests[0].run_key  # new content: new work
    (single,) = run_requests_for(videos[:1])
    assert single.partition_key == "1000" and single.run_key == "video-1000-h0"


@pytest.mark.parametrize("setting", [5, 10, 30])
def test_the_sensor_ticks_at_the_settings_period(monkeypatch, setting):
    # Dagster's daemon looks every MIN_INTERVAL_LOOP_TIME seconds (a look sleeps what is left of its period) and ticks
    # a sensor whose last tick started at least its minimum interval ago; a tick starts a moment after its look. The
    # next tick after one at 0 comes at the setting's period, not one look later.
    from dagster._daemon.sensor import MIN_INTERVAL_LOOP_TIME

    monkeypatch.setenv("FACE_ASSETS_SENSOR_INTERVAL", str(setting))
    minimum = build_library_sensor().minimum_interval_seconds
    looks = [k * MIN_INTERVAL_LOOP_TIME for k in range(1, 20)]
    tick_started = 0.01
    next_tick = next(look for look in looks if look - tick_started >= minimum)
    assert next_tick < setting + 1
    exact = next(look for look in looks if look - tick_started >= setting)  # the setting as the minimum interval
    assert exact > setting + MIN_INTERVAL_LOOP_TIME - 1  # skipped one look
