"""Bad input in the library and among the creator pictures: each gets a clear error where it belongs, the rest goes on.

One library scan (the sensor's logic, `scan_and_register`) over two roots, then one run of sampled_frames +
face_detections over every video partition (as a backfill batch runs them), in process on a real Dagster instance
with PostgreSQL storage:

- root "lib a" holds a truncated mp4, an empty file, a text file named .mp4, a video with no frames (zero duration)
  and an 8K video (generated with OpenCV here), plus two good videos, one under a name with spaces, quotes and
  non-ASCII letters;
- root "lib b" holds one good video and disappears after it was registered.

Where each problem belongs: library_files.error (files that are not usable videos, never registered),
video_face_scans (status 'failed' with the reason: videos that cannot be processed), the scan's roots_missing (a
root that is gone: its videos are left alone), creator_embedding_issues (a profile picture that is not an image).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import psycopg
import pytest
from dagster import AssetKey, instance_for_test, materialize

from face_assets_tests.conftest import LIBRARY, _create_database, _drop_database

pytestmark = pytest.mark.slow

VIDEOS = LIBRARY / "videos"
ODD_NAME = 'it\'s a "quoted" Ünïcødé clip – ë.mp4'
GOOD = "slideshow_07.mp4"  # Ariel Sharon, Donald Rumsfeld
GONE_ROOT_VIDEO = "slideshow_08.mp4"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def write_video(path: Path, width: int, height: int, frames: int, fps: float = 1.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {width}x{height} mp4v here"
    gradient = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    for i in range(frames):
        writer.write(np.broadcast_to((gradient + 40 * i) % 255, (height, width, 3)).astype(np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def bad_library(module_migrated_db, pg_server, tmp_path_factory):
    """Scan, scan again after a root vanished, then one run over every partition; everything the tests look at."""
    from sqlalchemy.engine import make_url

    from face_assets.defs.faces.assets import face_detections, face_matches
    from face_assets.defs.faces.resources import FaceEngineResource
    from face_assets.defs.library.assets import sampled_frames
    from face_assets.defs.resources import PostgresResource
    from face_assets.library.scanner import scan_and_register, scan_library

    base = tmp_path_factory.mktemp("bad input")
    lib_a, lib_b = base / "lib a", base / "lib b"
    lib_a.mkdir()
    lib_b.mkdir()
    shutil.copyfile(VIDEOS / "broken" / "truncated.mp4", lib_a / "corrupt.mp4")
    (lib_a / "empty.mp4").write_bytes(b"")
    shutil.copyfile(VIDEOS / "broken" / "not_a_video.mp4", lib_a / "fake.mp4")
    write_video(lib_a / "zero duration.mp4", 320, 240, frames=0)
    write_video(lib_a / "huge 8k.mp4", 7680, 4320, frames=3)
    shutil.copyfile(VIDEOS / GOOD, lib_a / GOOD)
    odd_dir = lib_a / "Ördner mit 'Leerzeichen'"
    odd_dir.mkdir()
    shutil.copyfile(VIDEOS / "driving_d9.mp4", odd_dir / ODD_NAME)
    shutil.copyfile(VIDEOS / GONE_ROOT_VIDEO, lib_b / GONE_ROOT_VIDEO)

    dagster_url = _create_database(pg_server, "dg")
    storage = make_url(dagster_url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    database = PostgresResource(url=module_migrated_db)
    with psycopg.connect(module_migrated_db) as conn:
        conn.execute("UPDATE watched_directories SET is_active = false")  # only the two roots of this test
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACE_ASSETS_HOME", str(base / "home"))
        mp.setenv("FACE_ASSETS_LIBRARY", f"{lib_a}:{lib_b}")
        (base / "dagster_home").mkdir()
        with instance_for_test(
            temp_dir=str(base / "dagster_home"), overrides={"storage": {"postgres": {"postgres_url": storage}}}
        ) as instance:
            first = scan_and_register(instance, database, settle_seconds=1.5)
            shutil.rmtree(lib_b)  # the disk of root b is unmounted
            with database.connect() as conn:
                after_root_gone = scan_library(conn)
            keys = instance.get_dynamic_partitions("videos")
            result = materialize(
                [sampled_frames, face_detections, face_matches],
                instance=instance,
                raise_on_error=False,
                resources={"database": database, "face_engine": FaceEngineResource()},
                tags={RANGE_START: keys[0], RANGE_END: keys[-1]},
            )
            yield {
                "url": module_migrated_db,
                "first": first,
                "after_root_gone": after_root_gone,
                "keys": keys,
                "result": result,
                "lib_a": lib_a,
                "lib_b": lib_b,
                "instance": instance,
                "database": database,
                "odd": odd_dir / ODD_NAME,
            }
    _drop_database(pg_server, dagster_url)


def _files(url: str) -> dict[str, tuple[str, str | None, int | None]]:
    with psycopg.connect(url) as conn:
        return {
            Path(p).name: (s, e, v)
            for p, s, e, v in conn.execute("SELECT path, status, error, video_id FROM library_files")
        }


def test_unusable_files_are_recorded_in_library_files_and_never_registered(bad_library):
    files = _files(bad_library["url"])
    expected_errors = {
        "empty.mp4": "empty",
        "fake.mp4": "cannot open it as a video",
        "corrupt.mp4": "",
        "zero duration.mp4": "",
    }
    for name, words in expected_errors.items():
        status, error, video_id = files[name]
        assert status == "error" and video_id is None, (name, files[name])
        assert error and words in error, (name, error)
        assert bad_library["lib_a"].as_posix() not in error or len(error) > len(str(bad_library["lib_a"])) + 5
    # Every error names what is wrong, not just "failed".
    assert all(len(files[n][1]) > 15 for n in expected_errors)
    scan = bad_library["first"]
    assert {Path(e.path).name for e in scan.errors} == set(expected_errors)
    for name in (GOOD, ODD_NAME, GONE_ROOT_VIDEO, "huge 8k.mp4"):
        assert files[name][0] == "registered" and files[name][1] is None, (name, files[name])


def test_a_path_with_spaces_quotes_and_non_ascii_letters_goes_through_unchanged(bad_library):
    odd = bad_library["odd"]
    with psycopg.connect(bad_library["url"]) as conn:
        video_id, stored, name = conn.execute(
            "SELECT id, file_path, file_name FROM videos WHERE file_path = %s", (str(odd),)
        ).fetchone()
        frames = [p for (p,) in conn.execute("SELECT path FROM video_frames WHERE video_id = %s", (video_id,))]
    assert stored == str(odd) and name == ODD_NAME
    assert str(video_id) in bad_library["keys"]
    assert len(frames) >= 2 and all(Path(p).is_file() and cv2.imread(p) is not None for p in frames)


def test_a_root_that_disappears_is_reported_and_its_videos_are_left_alone(bad_library):
    gone = bad_library["after_root_gone"]
    lib_b = str(bad_library["lib_b"])
    assert [r.path for r in gone.roots_missing] == [lib_b]
    assert "does not exist" in gone.roots_missing[0].error
    assert gone.missing_video_ids == []  # unknown is not unavailable
    with psycopg.connect(bad_library["url"]) as conn:
        video_id, available = conn.execute(
            "SELECT id, is_available FROM videos WHERE file_path = %s", (f"{lib_b}/{GONE_ROOT_VIDEO}",)
        ).fetchone()
        status, error = conn.execute(
            "SELECT status, error FROM video_face_scans WHERE video_id = %s", (video_id,)
        ).fetchone()
    assert available is not False
    # Its partition was in the run: it fails on its own, saying the file is not there.
    assert status == "failed" and "does not exist" in error, error
    assert str(bad_library["lib_a"]) in gone.roots


def test_the_run_fails_only_the_bad_partitions_and_processes_the_rest(bad_library):
    from face_assets_tests.defs.library.test_frames import partition_statuses

    result = bad_library["result"]
    assert not result.success  # the gone video fails its partition, so the run says so
    with psycopg.connect(bad_library["url"]) as conn:
        scans = {
            Path(p).name: (s, f, e)
            for p, s, f, e in conn.execute(
                "SELECT v.file_path, s.status, s.faces, s.error FROM video_face_scans s JOIN videos v ON v.id = s.video_id"
            )
        }
        ids = dict(
            conn.execute(
                "SELECT file_path, id FROM videos WHERE id = ANY(%s)", ([int(k) for k in bad_library["keys"]],)
            ).fetchall()
        )
    assert GOOD in scans and ODD_NAME in scans, (
        f"face_detections did not run for the good videos of the batch (scans: {scans}): one bad partition must "
        "not cost a backfill batch (up to 50 videos) its detections"
    )
    assert scans[GOOD][0] == "processed" and scans[GOOD][1] >= 2, scans[GOOD]
    assert scans[ODD_NAME][0] == "processed"
    # 8K frames are decoded and searched like any other (the detector works at 640 px): processed, no face.
    assert scans["huge 8k.mp4"][:2] == ("processed", 0), scans["huge 8k.mp4"]
    assert scans[GONE_ROOT_VIDEO][0] == "failed"
    # The job's last video step, face_matches, fails exactly the bad partition; the rest go all the way through.
    statuses = partition_statuses(bad_library["instance"], AssetKey("face_matches"), bad_library["keys"])
    by_name = {Path(path).name: statuses[str(video_id)] for path, video_id in ids.items()}
    assert by_name[GOOD] == by_name[ODD_NAME] == by_name["huge 8k.mp4"] == "MATERIALIZED", by_name
    assert by_name[GONE_ROOT_VIDEO] == "FAILED", by_name


def test_a_profile_picture_that_is_not_an_image_is_an_issue_and_the_others_are_embedded(bad_library, truth):
    from face_assets.defs.faces.assets import creator_embeddings
    from face_assets.defs.faces.resources import FaceEngineResource

    url = bad_library["url"]
    creator_id = truth["legacy_creator_ids"]["Ariel Sharon"]
    fake = bad_library["lib_a"].parent / "profile pictures" / "ariel sharon's.jpg"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("this is not an image, whatever its name says\n")
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE creators SET profile_picture_path = %s WHERE id = %s", (str(fake), creator_id))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACE_ASSETS_HOME", str(bad_library["lib_a"].parent / "home"))
        result = materialize(
            [creator_embeddings],
            instance=bad_library["instance"],
            raise_on_error=False,
            resources={"database": bad_library["database"], "face_engine": FaceEngineResource()},
        )
    assert result.success  # one bad picture never fails the asset
    with psycopg.connect(url) as conn:
        issue = conn.execute(
            "SELECT reason FROM creator_embedding_issues WHERE creator_id = %s AND source_path = %s",
            (creator_id, str(fake)),
        ).fetchone()
        embedded = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT creator_id FROM creator_face_embeddings WHERE source_type = 'profile_picture'"
            )
        }
    assert issue and "not a readable image" in issue[0], issue
    others = {v for name, v in truth["legacy_creator_ids"].items() if name != "Ariel Sharon"}
    assert creator_id not in embedded
    assert len(others & embedded) >= len(others) - 1, (others, embedded)  # a picture may hold no usable face
