"""Tracks and appearances in the database (face_assets.recognition.timeline), the asset `face_appearances` and its
automation, and the API: real PostgreSQL, faces whose embeddings are made to a chosen similarity, the real matching
step names them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import numpy as np
import pytest
from fastapi.testclient import TestClient

from face_assets_tests.web.seed import connect, near, near_two, seed, unit

API = "/api/face-recognition"
BOX = (100.0, 80.0, 90.0, 90.0)


def _scene(url: str) -> dict:
    """A creator, and a video with frames every 0.5 s from 0 to 10 s: the creator's frontal face from 2.0 to 3.5 s,
    then a profile view at 4.0 s in the same place (unlike the creator's picture, 0.35 like the last frontal face),
    nobody else."""
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.recognition.matching import ensure_schema, match_detections

    rng = np.random.default_rng(11)
    with connect(url) as conn:
        ensure_schema(conn)
        creator = conn.execute("INSERT INTO creators (name) VALUES ('Tim Eline') RETURNING id").fetchone()[0]
        base = unit(rng)
        conn.execute(
            "INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path, quality_score)"
            " VALUES (%s, %s, 'manual', '/nonexistent/tim.jpg', 0.9)",
            (creator, base),
        )
        video = conn.execute("SELECT id FROM videos ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("UPDATE videos SET duration_seconds = 10 WHERE id = %s", (video,))
        for k in range(21):
            conn.execute(
                "INSERT INTO video_frames (video_id, frame_index, timestamp_seconds, path, width, height)"
                " VALUES (%s, %s, %s, '/nonexistent.jpg', 640, 360)",
                (video, k, 0.5 * k),
            )
        faces = {}
        last = None
        for k in (4, 5, 6, 7):
            last = near(base, 0.75, rng)
            faces[k] = _face(conn, video, k, last)
        faces[8] = _face(conn, video, 8, near_two(base, 0.05, last, 0.35, rng))
        conn.commit()
        match_detections(conn, RecognitionConfig.load(conn))
        conn.commit()
    return {"creator": creator, "video": video, "faces": faces}


def _face(conn, video: int, frame: int, embedding) -> int:
    return conn.execute(
        "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
        " bbox_width, bbox_height, quality_score) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0.9) RETURNING id",
        (video, 0.5 * frame, frame, embedding, *BOX),
    ).fetchone()[0]


def test_a_profile_view_is_named_by_its_track_and_a_decision_changes_the_track(migrated_db):
    from face_assets.defs.faces.timeline import compute_appearances
    from face_assets.recognition.timeline import video_appearances
    from face_assets.review import decisions

    scene = _scene(migrated_db)
    with connect(migrated_db) as conn:
        statuses = dict(
            conn.execute(
                "SELECT frame_index, match_status FROM video_face_detections WHERE video_id = %s", (scene["video"],)
            ).fetchall()
        )
        assert statuses == {4: "matched", 5: "matched", 6: "matched", 7: "matched", 8: "unmatched"}
        tracks, rows = compute_appearances(conn, [scene["video"]])
        conn.commit()
        assert (tracks, rows) == (1, 1)
        (a,) = video_appearances(conn, scene["video"])
        # The profile view (unmatched on its own) is the creator's too: 5 faces, until half-way past 4.0 s.
        assert (a.creator_id, a.status, a.faces, a.start, a.end) == (scene["creator"], "tagged", 5, 1.75, 4.25)
        track = conn.execute(
            "SELECT track FROM video_face_track_faces WHERE detection_id = %s", (scene["faces"][8],)
        ).fetchone()[0]
        assert (
            track
            == conn.execute(
                "SELECT track FROM video_face_track_faces WHERE detection_id = %s", (scene["faces"][4],)
            ).fetchone()[0]
        )

        # A person says one face of the track is not the creator: the track is not them any more.
        decisions.reject(conn, [scene["faces"][5]])
        conn.commit()
        assert [x.creator_id for x in video_appearances(conn, scene["video"])] == []


def test_the_faces_of_one_track_are_one_look_in_the_evidence(migrated_db):
    from face_assets.defs.faces.timeline import compute_appearances
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.recognition.evidence import fuse, video_evidence

    scene = _scene(migrated_db)
    with connect(migrated_db) as conn:
        config = RecognitionConfig.load(conn)
        (before,) = video_evidence(conn, config, [scene["video"]])
        assert before.frames == 4 and {f.track for f in before.faces} == {None}  # no tracks yet: four looks
        llrs = [f.llr for f in before.faces]
        frames = [f.frame_index for f in before.faces]
        assert before.fused == pytest.approx(fuse(frames, llrs, config.evidence_frame_correlation))

        compute_appearances(conn, [scene["video"]])
        conn.commit()
        (after,) = video_evidence(conn, config, [scene["video"]])
        tracks = {f.track for f in after.faces}
        assert len(tracks) == 1 and None not in tracks
        assert after.fused == pytest.approx(float(np.mean(llrs)))  # one track: one look, its frames' mean
        assert after.fused < before.fused


def test_the_api_serves_a_videos_appearances(migrated_db):
    from face_assets.defs.faces.timeline import compute_appearances
    from face_assets.web.app import create_app

    scene = _scene(migrated_db)
    with connect(migrated_db) as conn:
        compute_appearances(conn, [scene["video"]])
        conn.commit()
    with TestClient(create_app(database_url=migrated_db), base_url="http://127.0.0.1:3001") as client:
        r = client.get(f"{API}/video/{scene['video']}/appearances")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["duration_seconds"] == 10.0
        (item,) = body["items"]
        assert item["name"] == "Tim Eline" and item["creator_id"] == scene["creator"]
        assert (item["start_seconds"], item["end_seconds"], item["start"], item["end"]) == (1.75, 4.25, "0:02", "0:04")
        assert item["faces"] == 5 and item["status"] == "tagged" and 0.7 < item["confidence"] < 0.8
        assert item["frame_url"] == f"/images/frame/{scene['video']}/{item['frame_index']}.jpg"
        assert body["people"] == [
            {"creator_id": scene["creator"], "cluster_id": None, "name": "Tim Eline", "text": "0:02-0:04"}
        ]
        assert client.get(f"{API}/video/999999/appearances").status_code == 404


START = datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc)


def test_an_old_database_fills_in_by_the_automation_without_a_new_scan(migrated_db, monkeypatch, tmp_path):
    """A database made before timelines: faces matched, no tracks or appearances. The automation asks for face_appearances
    of every video with matches at the next tick, and the run fills them in from the stored faces (no frame decoded,
    no face detected)."""
    from face_assets.definitions import build_definitions
    from face_assets.defs.faces.timeline import face_appearances
    from face_assets.defs.resources import PostgresResource

    monkeypatch.setenv("FACE_ASSETS_AUTOMATION_CRON", "*/10 * * * *")
    data = seed(migrated_db, videos=3, clusters=1)
    with connect(migrated_db) as conn:
        # Matching upgrades the schema as the first run of new code on an old database does: the timeline tables
        # may exist then, but hold nothing.
        if conn.execute("SELECT to_regclass('face_appearances')").fetchone()[0] is not None:
            assert conn.execute("SELECT count(*) FROM face_appearances").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM video_face_tracks").fetchone()[0] == 0
        before = conn.execute("SELECT count(*), max(id) FROM video_face_detections").fetchone()
    keys = [str(v) for v in data.videos]
    key = dg.AssetKey("face_appearances")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions("videos", keys)
        for k in keys:  # what the old database's runs recorded
            instance.report_runless_asset_event(dg.AssetMaterialization("face_matches", partition=k))
        defs = build_definitions()
        cursor = None
        requested = {}
        for minutes in (0, 5, 10, 11):
            result = dg.evaluate_automation_conditions(
                defs=defs,
                instance=instance,
                cursor=cursor,
                asset_selection=dg.AssetSelection.assets(key),
                evaluation_time=START + timedelta(minutes=minutes),
            )
            cursor = result.cursor
            requested[minutes] = set(result.get_requested_partitions(key))
        assert requested[0] == set() and requested[5] == set()  # waits for the cron window
        assert requested[10] == set(keys)  # every video of the old database, at once
        assert requested[11] == set()  # handled

        for k in sorted(requested[10]):  # what the requested runs do
            outcome = dg.materialize(
                [face_appearances],
                instance=instance,
                partition_key=k,
                resources={"database": PostgresResource(url=migrated_db)},
            )
            assert outcome.success
    with connect(migrated_db) as conn:
        assert conn.execute("SELECT count(*), max(id) FROM video_face_detections").fetchone() == before
        rows = conn.execute(
            "SELECT video_id, creator_id, status, faces FROM face_appearances ORDER BY video_id"
        ).fetchall()
        frames = conn.execute("SELECT count(*) FROM video_frames").fetchone()[0]
    assert frames == 0  # nothing was decoded
    assert {r[0] for r in rows} == set(data.videos)
    for _video, creator_id, status, faces in rows:
        assert creator_id in data.creators.values() and status == "proposed" and faces >= 1
    assert sum(r[3] for r in rows) == sum(len(v) for v in data.by_video.values())


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path / "home"))
