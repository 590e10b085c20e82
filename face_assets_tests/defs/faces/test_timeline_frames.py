"""`timeline_frames` and `face_appearances` through Dagster on fixture videos (buffalo_sc on CPU): adaptive sampling
adds frames where people come and go, records what each video cost, a second run adds nothing, and the appearances
follow."""

import psycopg
import pytest
from dagster import AssetKey

from face_assets_tests.defs.faces.test_detections import make_resources
from face_assets_tests.defs.library.test_frames import materialization_metadata, run_partitions

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("FACE_ASSETS_HOME", str(path))
    return path


def test_adaptive_frames_then_appearances(migrated_db, home, dagster_instance, truth, monkeypatch):
    from dagster import materialize

    from face_assets.defs.faces.assets import creator_embeddings, face_detections, face_matches
    from face_assets.defs.faces.timeline import face_appearances, timeline_frames
    from face_assets.defs.library.assets import sampled_frames

    # The fixture clips are 9-10 s long: their 5 first-pass frames are < 2 s apart, so a finer resolution here.
    monkeypatch.setenv("FACE_ASSETS_TIMELINE_RESOLUTION", "0.5")
    ids = truth["legacy_video_ids"]
    keys = [str(ids["videos/hamilton_short.mp4"]), str(ids["videos/slideshow_03.mp4"])]
    dagster_instance.add_dynamic_partitions("videos", keys)
    resources = make_resources(migrated_db)
    assert materialize([creator_embeddings], instance=dagster_instance, resources=resources).success
    steps = [sampled_frames, face_detections, timeline_frames, face_matches, face_appearances]
    result = run_partitions(steps, keys, dagster_instance, resources)
    assert result.success
    with psycopg.connect(migrated_db) as conn:
        scans = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT video_id, first_pass_frames, added_frames, frames, bisections FROM video_timeline_scans"
            )
        }
        frames = dict(conn.execute("SELECT video_id, count(*) FROM video_frames GROUP BY 1").fetchall())
        orphans = conn.execute(
            "SELECT count(*) FROM video_face_detections d LEFT JOIN video_frames f USING (video_id, frame_index)"
            " WHERE f.id IS NULL"
        ).fetchone()[0]
        appearances = conn.execute(
            "SELECT a.video_id, c.name, a.start_seconds, a.end_seconds FROM face_appearances a"
            " JOIN creators c ON c.id = a.creator_id ORDER BY 1, 3"
        ).fetchall()
    assert set(scans) == {int(k) for k in keys} and orphans == 0
    for video_id, (first, added, total, bisections) in scans.items():
        assert first == 5 and total == first + added == frames[video_id]
        assert added > 0 and bisections > 0  # people come and go in both
    meta = materialization_metadata(dagster_instance, AssetKey("timeline_frames"), keys[0])
    assert meta["frames_added"].value == scans[int(keys[0])][1]
    # Lin-Manuel Miranda is on screen ~3-7 s of the stage clip.
    hamilton = [a for a in appearances if a[0] == int(keys[0]) and a[1] == "Lin-Manuel Miranda"]
    assert hamilton, appearances
    assert min(a[2] for a in hamilton) <= 4.0 and max(a[3] for a in hamilton) >= 6.0

    again = run_partitions([timeline_frames], keys, dagster_instance, resources)
    assert again.success
    with psycopg.connect(migrated_db) as conn:
        added = dict(conn.execute("SELECT video_id, added_frames FROM video_timeline_scans").fetchall())
    assert set(added.values()) == {0}  # what it would ask for is there
