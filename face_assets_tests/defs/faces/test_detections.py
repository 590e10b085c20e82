"""`face_detections` through Dagster with the fixture model pack (buffalo_sc on CPU) on the migrated fixture library.

The whole fixture library goes through both assets once (module fixture, one run, as a backfill batch would) and
several tests read that result; the tests that change things use one or two short videos on their own database.
"""

import time
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from dagster import AssetKey, instance_for_test

from face_assets_tests.conftest import _create_database, _drop_database
from face_assets_tests.defs.library.test_frames import (
    add_broken_video,
    materialization_metadata,
    partition_statuses,
    run_partitions,
)

pytestmark = pytest.mark.slow

DETECTIONS_KEY = AssetKey("face_detections")
FRAMES_KEY = AssetKey("sampled_frames")


def make_resources(url: str) -> dict:
    from face_assets.defs.faces.resources import FaceEngineResource
    from face_assets.defs.resources import PostgresResource

    return {"database": PostgresResource(url=url), "face_engine": FaceEngineResource()}


def assets():
    from face_assets.defs.faces.assets import face_detections
    from face_assets.defs.library.assets import sampled_frames

    return [sampled_frames, face_detections]


@pytest.fixture(scope="module")
def library_run(module_migrated_db, pg_server, tmp_path_factory, truth):
    """Every migrated fixture video through sampled_frames + face_detections in one run."""
    from sqlalchemy.engine import make_url

    base = tmp_path_factory.mktemp("detections")
    dagster_url = _create_database(pg_server, "dg")
    storage_url = make_url(dagster_url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACE_ASSETS_HOME", str(base / "home"))
        (base / "dagster_home").mkdir()
        with instance_for_test(
            temp_dir=str(base / "dagster_home"), overrides={"storage": {"postgres": {"postgres_url": storage_url}}}
        ) as instance:
            keys = [str(v) for v in truth["legacy_video_ids"].values()]
            instance.add_dynamic_partitions("videos", keys)
            resources = make_resources(module_migrated_db)
            resources["face_engine"].load()  # model loading is not part of the per-frame timing
            start = time.perf_counter()
            result = run_partitions(assets(), keys, instance, resources)
            seconds = time.perf_counter() - start
            yield SimpleNamespace(
                url=module_migrated_db, instance=instance, result=result, keys=keys, seconds=seconds, home=base / "home"
            )
    _drop_database(pg_server, dagster_url)


def test_the_library_run_finds_faces_in_every_video_with_people(library_run, truth):
    assert library_run.result.success
    ids = {path: int(v) for path, v in truth["legacy_video_ids"].items()}
    with psycopg.connect(library_run.url) as conn:
        faces = dict(conn.execute("SELECT video_id, count(*) FROM video_face_detections GROUP BY video_id").fetchall())
        scans = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT video_id, status, frames, faces, provider, seconds_per_frame FROM video_face_scans"
            )
        }
        frames = conn.execute("SELECT count(*) FROM video_frames").fetchone()[0]
    with_people = [p for p in ids if truth["videos"][p]["creators"] or truth["videos"][p]["unknown_people"]]
    assert len(with_people) >= 9
    for path in with_people:
        assert faces.get(ids[path], 0) >= 1, f"no face found in {path}"
    assert set(scans) == set(ids.values())
    for video_id, (status, n_frames, n_faces, provider, spf) in scans.items():
        assert (status, n_frames, n_faces) == ("processed", 5, faces.get(video_id, 0))
        assert provider == "CPUExecutionProvider" and spf > 0
    spf = library_run.seconds / frames
    print(f"\n{frames} frames, {library_run.seconds:.1f} s for both assets: {spf:.3f} s per frame on this machine")


def test_detections_are_stored_as_specified(library_run):
    from face_assets.recognition.config import RecognitionConfig

    with psycopg.connect(library_run.url) as conn:
        config = RecognitionConfig.load(conn)
        dims, min_norm, max_norm = conn.execute(
            "SELECT min(vector_dims(embedding)), min(vector_norm(embedding)), max(vector_norm(embedding))"
            " FROM video_face_detections"
        ).fetchone()
        rows = conn.execute(
            "SELECT d.frame_index, d.frame_timestamp, f.timestamp_seconds, d.bbox_x, d.bbox_y, d.bbox_width,"
            " d.bbox_height, f.width, f.height, d.quality_score, d.match_status, d.crop_path, d.video_id"
            " FROM video_face_detections d JOIN video_frames f USING (video_id, frame_index)"
        ).fetchall()
        unmatched = conn.execute(
            "SELECT count(*) FROM video_face_detections d LEFT JOIN video_frames f USING (video_id, frame_index)"
            " WHERE f.id IS NULL"
        ).fetchone()[0]
    assert dims == 512 and abs(min_norm - 1) < 1e-4 and abs(max_norm - 1) < 1e-4
    assert rows and unmatched == 0
    for _index, ts, frame_ts, x, y, w, h, width, height, score, status, crop, video_id in rows:
        assert abs(ts - frame_ts) < 1e-3
        assert 0 <= x and 0 <= y and x + w <= width + 1e-3 and y + h <= height + 1e-3
        inside = x > 1 and y > 1 and x + w < width - 1 and y + h < height - 1
        if inside:  # boxes are clipped to the frame, so only whole boxes show the detector's size
            assert min(w, h) >= config.min_face_size
        assert score >= config.min_detection_score
        assert status == "pending"
        assert Path(crop).is_file() and Path(crop).parent == library_run.home / "crops" / str(video_id)


def test_each_partition_has_its_metadata_and_preview(library_run):
    statuses = partition_statuses(library_run.instance, DETECTIONS_KEY, library_run.keys)
    assert set(statuses.values()) == {"MATERIALIZED"}
    with psycopg.connect(library_run.url) as conn:
        faces = dict(conn.execute("SELECT video_id::text, faces FROM video_face_scans").fetchall())
    for key in library_run.keys:
        metadata = materialization_metadata(library_run.instance, DETECTIONS_KEY, key)
        assert metadata["frames"].value == 5
        assert metadata["faces"].value == faces[key]
        assert metadata["provider"].value == "CPUExecutionProvider"
        assert metadata["seconds_per_frame"].value > 0
        assert Path(metadata["preview_path"].value).is_file()
        assert metadata["preview"].value.startswith("![preview](data:image/jpeg;base64,")


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("FACE_ASSETS_HOME", str(path))
    return path


def test_rematerializing_keeps_one_set_of_detections_and_the_review_decisions(
    migrated_db, home, dagster_instance, truth
):
    key = str(truth["legacy_video_ids"]["videos/slideshow_01.mp4"])
    sharon = truth["legacy_creator_ids"]["Ariel Sharon"]
    dagster_instance.add_dynamic_partitions("videos", [key])
    resources = make_resources(migrated_db)
    assert run_partitions(assets(), [key], dagster_instance, resources).success

    query = (
        "SELECT id, frame_index, bbox_x, bbox_y, match_status, matched_creator_id, match_confidence, decided_at,"
        " crop_path FROM video_face_detections WHERE video_id = %s ORDER BY frame_index, bbox_x"
    )
    with psycopg.connect(migrated_db) as conn:
        before = conn.execute(query, (int(key),)).fetchall()
        assert len(before) >= 2
        rejected, confirmed = before[0], before[-1]
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'rejected', matched_creator_id = %s,"
            " match_confidence = 0.41, decided_at = now() WHERE id = %s",
            (sharon, rejected[0]),
        )
        conn.execute(
            "UPDATE video_face_detections SET match_status = 'manual', matched_creator_id = %s,"
            " match_confidence = 0.93, decided_at = now() WHERE id = %s",
            (sharon, confirmed[0]),
        )
        decided = {r[0]: r for r in conn.execute(query, (int(key),)) if r[0] in (rejected[0], confirmed[0])}

    # face_detections alone, as a retry or a model change would run it
    from face_assets.defs.faces.assets import face_detections

    result = run_partitions([face_detections], [key], dagster_instance, resources)
    assert result.success
    with psycopg.connect(migrated_db) as conn:
        after = conn.execute(query, (int(key),)).fetchall()
        scan = conn.execute("SELECT status, faces FROM video_face_scans WHERE video_id = %s", (int(key),)).fetchone()
    assert len(after) == len(before) and scan == ("processed", len(before))  # replaced, no duplicates
    assert {r[0] for r in before} == {r[0] for r in after}  # the same faces keep their ids
    for old_id, status in ((rejected[0], "rejected"), (confirmed[0], "manual")):
        old = decided[old_id]
        new = [r for r in after if r[1] == old[1] and abs(r[2] - old[2]) < 2 and abs(r[3] - old[3]) < 2]
        assert len(new) == 1
        assert new[0][4:8] == (status, sharon, pytest.approx(old[6]), old[7])
    assert sum(r[4] == "pending" for r in after) == len(after) - 2
    crops = sorted((home / "crops" / key).iterdir())
    assert sorted(Path(r[8]) for r in after) == crops  # the first run's crops are gone
    assert materialization_metadata(dagster_instance, DETECTIONS_KEY, key)["decisions_carried_over"].value == 2


def test_min_face_size_filters_small_faces_and_zero_faces_is_recorded(migrated_db, home, dagster_instance, truth):
    from face_assets.defs.faces.assets import face_detections

    key = str(truth["legacy_video_ids"]["videos/slideshow_01.mp4"])  # faces of ~50 to ~160 px
    dagster_instance.add_dynamic_partitions("videos", [key])
    resources = make_resources(migrated_db)
    with psycopg.connect(migrated_db) as conn:  # 2 frames (at 1/3 and 2/3) are enough here, and quicker
        conn.execute("UPDATE face_recognition_config SET value = '2' WHERE key = 'frames_per_video'")
    assert run_partitions(assets(), [key], dagster_instance, resources).success

    def detect_with(min_face_size: int):
        with psycopg.connect(migrated_db) as conn:
            conn.execute(
                "UPDATE face_recognition_config SET value = %s WHERE key = 'min_face_size'", (str(min_face_size),)
            )
        assert run_partitions([face_detections], [key], dagster_instance, resources).success
        with psycopg.connect(migrated_db) as conn:
            sizes = [
                r[0]
                for r in conn.execute(
                    "SELECT least(bbox_width, bbox_height) FROM video_face_detections WHERE video_id = %s", (int(key),)
                )
            ]
            scan = conn.execute(
                "SELECT status, faces FROM video_face_scans WHERE video_id = %s", (int(key),)
            ).fetchone()
        return sizes, scan

    small, _ = detect_with(20)
    large, _ = detect_with(100)
    assert len(large) < len(small) and large and min(large) >= 100
    none, scan = detect_with(100000)
    assert none == [] and scan == ("processed", 0)  # processed, no faces: a row, unlike a video never processed
    with psycopg.connect(migrated_db) as conn:
        other = truth["legacy_video_ids"]["videos/driving_d0.mp4"]
        assert conn.execute("SELECT count(*) FROM video_face_scans WHERE video_id = %s", (other,)).fetchone()[0] == 0


def test_a_broken_video_fails_its_own_partition_and_the_others_are_committed(
    migrated_db, home, dagster_instance, truth
):
    from face_assets.defs.faces.assets import face_matches

    broken = str(add_broken_video(migrated_db))
    good = [
        str(truth["legacy_video_ids"]["videos/driving_d0.mp4"]),
        str(truth["legacy_video_ids"]["videos/slideshow_01.mp4"]),
    ]
    keys = [good[0], broken, good[1]]
    dagster_instance.add_dynamic_partitions("videos", keys)
    resources = make_resources(migrated_db)

    # The whole video job over one batch: frames and faces of the good videos are committed; the broken video is
    # recorded by sampled_frames and skipped by face_detections; face_matches fails exactly its partition.
    result = run_partitions([*assets(), face_matches], keys, dagster_instance, resources, raise_on_error=False)
    assert not result.success
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert f"failed video ids: {broken}" in message and "truncated.mp4" in message
    with psycopg.connect(migrated_db) as conn:
        scans = {r[0]: r[1:] for r in conn.execute("SELECT video_id::text, status, faces, error FROM video_face_scans")}
        faces = dict(conn.execute("SELECT video_id::text, count(*) FROM video_face_detections GROUP BY 1").fetchall())
        frames = dict(conn.execute("SELECT video_id::text, count(*) FROM video_frames GROUP BY 1").fetchall())
    assert frames == {good[0]: 5, good[1]: 5}
    assert scans[broken][0] == "failed" and scans[broken][2].startswith("sampled_frames: ")
    for key in good:
        assert scans[key][:2] == ("processed", faces[key]) and faces[key] > 0
    assert broken not in faces
    assert partition_statuses(dagster_instance, AssetKey("face_matches"), keys) == {
        good[0]: "MATERIALIZED",
        broken: "FAILED",
        good[1]: "MATERIALIZED",
    }
