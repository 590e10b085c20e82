"""`sampled_frames` through Dagster on the migrated fixture library: timestamps, files, re-materialization, failures."""

from pathlib import Path

import cv2
import psycopg
import pytest
from dagster import AssetKey, AssetRecordsFilter, materialize

from face_assets_tests.conftest import LIBRARY

FRAMES_KEY = AssetKey("sampled_frames")
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def run_partitions(assets, keys, instance, resources, raise_on_error=True):
    """Materialize `assets` for `keys` (consecutive dynamic partitions) in ONE run, as a backfill batch would."""
    if len(keys) == 1:
        return materialize(
            assets, partition_key=keys[0], instance=instance, resources=resources, raise_on_error=raise_on_error
        )
    return materialize(
        assets,
        instance=instance,
        resources=resources,
        raise_on_error=raise_on_error,
        tags={RANGE_START: keys[0], RANGE_END: keys[-1]},
    )


def add_broken_video(url: str) -> int:
    """A new videos row pointing at the truncated fixture mp4; its id."""
    path = LIBRARY / "videos" / "broken" / "truncated.mp4"
    with psycopg.connect(url) as conn:
        directory_id = conn.execute("SELECT min(id) FROM watched_directories").fetchone()[0]
        return conn.execute(
            "INSERT INTO videos (file_path, file_name, directory_id, file_size_bytes, duration_seconds)"
            " VALUES (%s, %s, %s, %s, 12.0) RETURNING id",
            (str(path), path.name, directory_id, path.stat().st_size),
        ).fetchone()[0]


def materialized_partitions(instance, key: AssetKey) -> set[str]:
    return set(instance.get_materialized_partitions(key))


def partition_statuses(instance, key: AssetKey, keys) -> dict[str, str | None]:
    """Dagster's own view of each partition: MATERIALIZED, FAILED, IN_PROGRESS or None."""
    from face_assets.defs.library.partitions import video_partitions

    statuses = instance.get_status_by_partition(key, list(keys), video_partitions)
    return {k: (s.name if s is not None else None) for k, s in statuses.items()}


def materialization_metadata(instance, key: AssetKey, partition: str) -> dict:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    assert records, f"no materialization of {key.to_user_string()} partition {partition}"
    return records[0].event_log_entry.asset_materialization.metadata


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A FACE_ASSETS_HOME of this test's own (frames, previews), set after the database fixtures started."""
    path = tmp_path / "home"
    monkeypatch.setenv("FACE_ASSETS_HOME", str(path))
    return path


@pytest.fixture
def resources(migrated_db):
    from face_assets.defs.resources import PostgresResource

    return {"database": PostgresResource(url=migrated_db)}


@pytest.fixture
def video_ids(truth) -> dict[str, int]:
    return {path: int(video_id) for path, video_id in truth["legacy_video_ids"].items()}


def test_five_frames_per_video_at_the_right_times(migrated_db, home, resources, dagster_instance, truth, video_ids):
    from face_assets.defs.library.assets import sampled_frames

    keys = [str(v) for v in video_ids.values()]
    dagster_instance.add_dynamic_partitions("videos", keys)
    result = run_partitions([sampled_frames], keys, dagster_instance, resources)
    assert result.success
    assert materialized_partitions(dagster_instance, FRAMES_KEY) == set(keys)

    with psycopg.connect(migrated_db) as conn:
        for rel_path, video_id in video_ids.items():
            facts = truth["videos"][rel_path]
            cap = cv2.VideoCapture(str(LIBRARY / rel_path))
            fps = cap.get(cv2.CAP_PROP_FPS)
            cap.release()
            rows = conn.execute(
                "SELECT frame_index, timestamp_seconds, path, width, height, sharpness FROM video_frames"
                " WHERE video_id = %s ORDER BY frame_index",
                (video_id,),
            ).fetchall()
            assert [r[0] for r in rows] == [0, 1, 2, 3, 4], rel_path
            for index, ts, path, width, height, sharpness in rows:
                expected = facts["duration"] * (index + 1) / 6
                assert abs(ts - expected) <= 1.0 / fps + 1e-6, (rel_path, index, ts, expected)
                assert Path(path) == home / "frames" / str(video_id) / f"{index}.jpg"
                image = cv2.imread(path)
                assert image is not None and image.shape[:2] == (height, width)
                assert (width, height) == (facts["width"], facts["height"])
                assert sharpness > 0

    metadata = materialization_metadata(dagster_instance, FRAMES_KEY, keys[0])
    assert metadata["frames"].value == 5
    assert metadata["seconds_per_frame"].value > 0
    assert Path(metadata["preview_path"].value).is_file()
    assert metadata["preview"].value.startswith("![preview](data:image/jpeg;base64,")


def test_rematerializing_replaces_the_frames_and_probes_a_missing_duration(
    migrated_db, home, resources, dagster_instance, truth, video_ids
):
    from face_assets.defs.library.assets import sampled_frames

    rel_path = "videos/hamilton_short.mp4"
    key = str(video_ids[rel_path])
    dagster_instance.add_dynamic_partitions("videos", [key])
    assert run_partitions([sampled_frames], [key], dagster_instance, resources).success

    with psycopg.connect(migrated_db) as conn:
        first_ids = [r[0] for r in conn.execute("SELECT id FROM video_frames WHERE video_id = %s", (int(key),))]
        conn.execute("UPDATE face_recognition_config SET value = '3' WHERE key = 'frames_per_video'")
        conn.execute("UPDATE videos SET duration_seconds = NULL WHERE id = %s", (int(key),))
    assert len(first_ids) == 5

    assert run_partitions([sampled_frames], [key], dagster_instance, resources).success
    with psycopg.connect(migrated_db) as conn:
        rows = conn.execute(
            "SELECT id, frame_index, timestamp_seconds, path FROM video_frames WHERE video_id = %s ORDER BY frame_index",
            (int(key),),
        ).fetchall()
    assert [r[1] for r in rows] == [0, 1, 2]
    assert not set(first_ids) & {r[0] for r in rows}  # replaced, not added to
    duration = truth["videos"][rel_path]["duration"]  # probed from the file: the row has none now
    assert [round(r[2] / duration * 4, 1) for r in rows] == [1.0, 2.0, 3.0]
    files = sorted(p.name for p in (home / "frames" / key).iterdir())
    assert files == ["0.jpg", "1.jpg", "2.jpg"]  # 3.jpg and 4.jpg of the first run are gone


def test_a_broken_video_is_recorded_and_the_others_are_committed(
    migrated_db, home, resources, dagster_instance, video_ids
):
    """sampled_frames records an unreadable video and carries on: the next steps of the job still run for the
    other videos of the batch (face_matches, the job's last video step, fails the broken partition)."""
    from face_assets.defs.library.assets import sampled_frames

    broken = str(add_broken_video(migrated_db))
    good = [str(video_ids["videos/slideshow_01.mp4"]), str(video_ids["videos/driving_d0.mp4"])]
    keys = [good[0], broken, good[1]]
    dagster_instance.add_dynamic_partitions("videos", keys)

    result = run_partitions([sampled_frames], keys, dagster_instance, resources, raise_on_error=False)
    assert result.success

    with psycopg.connect(migrated_db) as conn:
        counts = dict(conn.execute("SELECT video_id::text, count(*) FROM video_frames GROUP BY video_id").fetchall())
        scans = conn.execute("SELECT video_id::text, status, error FROM video_face_scans").fetchall()
    assert counts == {good[0]: 5, good[1]: 5}  # the good videos are committed
    assert [(s[0], s[1]) for s in scans] == [(broken, "failed")]
    assert scans[0][2].startswith("sampled_frames: ") and "truncated.mp4" in scans[0][2]
    metadata = {m.partition: m.metadata for m in result.asset_materializations_for_node("sampled_frames")}
    assert metadata[broken]["failed"].value is True and "truncated.mp4" in metadata[broken]["error"].value
    assert not (home / "frames" / broken).exists()
