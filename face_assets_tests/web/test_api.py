"""The review app's HTTP API against real PostgreSQL (the migrated fixture database + faces from seed.py)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from face_assets_tests.web.seed import connect, seed

BASE = "http://127.0.0.1:3001"
API = "/api/face-recognition"


@pytest.fixture
def seeded(migrated_db, tmp_path):
    return migrated_db, seed(migrated_db, crops_dir=tmp_path / "crops")


@pytest.fixture
def client(seeded):
    from face_assets.web.app import create_app

    url, _ = seeded
    with TestClient(create_app(database_url=url), base_url=BASE) as c:
        yield c


def face_row(url: str, face_id: int) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT match_status, matched_creator_id, decided_at IS NOT NULL FROM video_face_detections WHERE id = %s",
            (face_id,),
        ).fetchone()


def tags(url: str, video_id: int) -> dict[int, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT creator_id, source FROM video_creators WHERE video_id = %s", (video_id,)))


def test_pending_pages_with_a_keyset_cursor(seeded, client):
    _url, data = seeded
    assert len(data.pending) == 25
    seen, cursor, pages = [], None, 0
    while True:
        r = client.get(f"{API}/pending", params={"limit": 10, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        seen.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and [len(p) for p in (seen[:10], seen[10:20], seen[20:])] == [10, 10, 5]
    ids = [i["detection_id"] for i in seen]
    assert sorted(ids) == sorted(data.pending) and len(set(ids)) == len(ids)
    confidences = [i["confidence"] for i in seen]
    assert confidences == sorted(confidences, reverse=True)
    first = seen[0]
    assert set(first) >= {"detection_id", "video_id", "creator_id", "creator", "confidence", "crop_url"}
    assert first["creator"] in ("Api Alpha", "Api Beta")
    # One video only, and a cursor the listing never handed out.
    one = client.get(f"{API}/pending", params={"video_id": data.videos[1]}).json()["items"]
    assert {i["detection_id"] for i in one} == set(data.by_video[data.videos[1]])
    assert client.get(f"{API}/pending", params={"cursor": "abc"}).status_code == 400
    groups = client.get(f"{API}/pending/groups", params={"limit": 2}).json()
    assert len(groups["items"]) == 2 and groups["next_cursor"]
    rest = client.get(f"{API}/pending/groups", params={"limit": 50, "cursor": groups["next_cursor"]}).json()
    assert len(groups["items"]) + len(rest["items"]) == 5 and rest["next_cursor"] is None


def test_confirm_reject_assign_and_undo(seeded, client):
    url, data = seeded
    video = data.videos[0]
    first, second, third = data.by_video[video][:3]
    proposed = face_row(url, first)[1]

    r = client.post(f"{API}/confirm/{first}")
    assert r.status_code == 200, r.text
    assert any("confirmed face" in line for line in r.json()["decisions"])
    assert face_row(url, first) == ("manual", proposed, True)
    assert tags(url, video).get(proposed) == "manual"

    r = client.post(f"{API}/reject/{second}")
    assert r.status_code == 200, r.text
    assert face_row(url, second)[0] == "rejected"
    with psycopg.connect(url) as conn:
        assert (
            conn.execute("SELECT count(*) FROM face_match_rejections WHERE detection_id = %s", (second,)).fetchone()[0]
            == 1
        )

    r = client.post(f"{API}/assign/{third}", json={"name": "Someone New", "create": True})
    assert r.status_code == 200, r.text
    new_id = r.json()["creator_id"]
    assert face_row(url, third) == ("manual", new_id, True)
    assert tags(url, video).get(new_id) == "manual"
    fourth = data.by_video[video][3]
    assert client.post(f"{API}/assign/{fourth}", json={"name": "Nobody Known"}).status_code == 404
    assert client.post(f"{API}/assign/{third}", json={"creator_id": new_id}).status_code == 409  # decided already

    # Undo the confirmation: undecided again, the manual tag and the learned face go.
    r = client.post(f"{API}/undo/{first}", json={"expected_status": "manual", "expected_creator_id": proposed})
    assert r.status_code == 200, r.text
    status, _creator, decided = face_row(url, first)
    assert not decided and status in ("pending", "matched", "unmatched")
    assert proposed not in tags(url, video)
    with psycopg.connect(url) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM creator_face_embeddings WHERE source_path = %s", (f"detection:{first}",)
            ).fetchone()[0]
            == 0
        )
    assert client.post(f"{API}/undo/{first}").status_code == 400  # nothing left to undo


def test_batch_confirm(seeded, client):
    url, data = seeded
    faces = data.by_video[data.videos[1]][:3]
    r = client.post(f"{API}/confirm", json={"faces": [{"detection_id": f} for f in faces]})
    assert r.status_code == 200, r.text
    assert all(face_row(url, f)[0] == "manual" for f in faces)


def test_second_decision_on_a_face_is_a_409_with_the_current_state(seeded, client):
    url, data = seeded
    face = data.by_video[data.videos[2]][0]
    shown = client.get(f"{API}/face/{face}").json()["face"]
    assert (
        client.post(
            f"{API}/confirm/{face}", json={"expected_status": "pending", "expected_creator_id": shown["creator_id"]}
        ).status_code
        == 200
    )
    r = client.post(
        f"{API}/reject/{face}", json={"expected_status": "pending", "expected_creator_id": shown["creator_id"]}
    )
    assert r.status_code == 409
    current = r.json()["current"][0]
    assert current["match_status"] == "manual" and current["decided"] and current["creator_id"] == shown["creator_id"]
    assert face_row(url, face)[0] == "manual"  # nothing changed
    assert client.post(f"{API}/confirm/{face}").status_code == 409  # no expectation: only undecided faces


def test_two_people_deciding_one_face_at_once(seeded, client):
    url, data = seeded
    face = data.by_video[data.videos[3]][1]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def decide(path: str):
        barrier.wait()
        results.append(client.post(f"{API}/{path}/{face}").status_code)

    threads = [threading.Thread(target=decide, args=(p,)) for p in ("confirm", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [200, 409]
    assert face_row(url, face)[0] in ("manual", "rejected")


def test_unknown_ids_are_404(client):
    for method, path in (
        ("post", "confirm/99999999"),
        ("post", "reject/99999999"),
        ("get", "face/99999999"),
        ("get", "video/99999999/faces"),
        ("get", "video/99999999"),
        ("get", "creator/99999999"),
        ("get", "cluster/99999999"),
        ("post", "cluster/99999999/ignore"),
        ("post", "process/99999999"),
    ):
        r = getattr(client, method)(f"{API}/{path}")
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert "99999999" in r.json()["detail"]
    r = client.post(f"{API}/assign/99999999", json={"creator_id": 1})
    assert r.status_code == 404
    image = client.get("/images/detection/99999999.jpg")
    assert image.status_code == 404 and image.headers["content-type"] == "image/png"


def test_images_by_id_with_placeholder_and_cache_headers(seeded, client):
    _url, data = seeded
    with_crop, without = data.by_video[data.videos[0]][:2]
    r = client.get(f"/images/detection/{with_crop}.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert "max-age" in r.headers["cache-control"] and r.headers.get("etag")
    import io

    from PIL import Image

    assert max(Image.open(io.BytesIO(r.content)).size) <= 112  # a grid thumbnail, scaled down from 160 px
    assert (
        client.get(f"/images/detection/{with_crop}.jpg", headers={"If-None-Match": r.headers["etag"]}).status_code
        == 304
    )
    missing = client.get(f"/images/detection/{without}.jpg")  # no crop file: a placeholder, not an error
    assert missing.status_code == 200 and missing.headers.get("x-placeholder") == "1"
    assert client.get(f"/images/cluster/{data.clusters[0]}.jpg").status_code == 200


def test_video_faces_and_creator_detail(seeded, client):
    _url, data = seeded
    video = data.videos[0]
    body = client.get(f"{API}/video/{video}/faces").json()
    assert [i["detection_id"] for i in body["items"]] == data.by_video[video]
    item = body["items"][0]
    assert (
        set(item) >= {"detection_id", "frame_timestamp", "bbox", "match_status", "creator_id", "confidence", "crop_url"}
        and len(item["bbox"]) == 4
    )
    creator = data.creators["Api Alpha"]
    detail = client.get(f"{API}/creator/{creator}").json()
    assert detail["name"] == "Api Alpha" and detail["references"][0]["source"] == "reference folder"
    # Its proposed videos are not tagged yet: found through the faces' HNSW index.
    assert {v["video_id"] for v in detail["maybe_videos"]} >= {data.videos[0], data.videos[2]}
    assert client.get(f"{API}/creators", params={"q": "api al"}).json()["items"][0]["creator_id"] == creator
    explained = client.get(f"{API}/face/{data.by_video[video][0]}").json()
    assert explained["matched_reference"]["creator_id"] == explained["face"]["creator_id"]
    assert explained["runner_up"] is not None and explained["margin"] > 0


def test_clusters_listing_name_merge_ignore_remove(seeded, client):
    url, data = seeded
    page = client.get(f"{API}/clusters", params={"limit": 2}).json()
    sizes = [c["size"] for c in page["items"]]
    assert sizes == sorted(sizes, reverse=True) and page["next_cursor"]
    rest = client.get(f"{API}/clusters", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert {c["id"] for c in page["items"] + rest["items"]} == set(data.clusters)
    assert page["items"][0]["sample_detection_ids"]

    a, b, c = data.clusters
    detail = client.get(f"{API}/cluster/{a}", params={"limit": 2}).json()
    assert len(detail["faces"]) == 2 and detail["next_cursor"]

    removed = data.cluster_faces[a][0]
    r = client.post(f"{API}/cluster/{a}/remove", json={"detection_ids": [removed]})
    assert r.status_code == 200, r.text
    with psycopg.connect(url) as conn:
        assert (
            conn.execute("SELECT cluster_id FROM video_face_detections WHERE id = %s", (removed,)).fetchone()[0] is None
        )

    assert client.post(f"{API}/cluster/{a}/merge", json={"other": b}).status_code == 200
    r = client.post(f"{API}/cluster/{a}/name", json={"name": "Cluster Person"})
    assert r.status_code == 200, r.text
    creator = r.json()["creator_id"]
    named = [f for f in data.cluster_faces[a] if f != removed] + data.cluster_faces[b]
    with psycopg.connect(url) as conn:
        tagged = {
            v
            for (v,) in conn.execute(
                "SELECT video_id FROM video_creators WHERE creator_id = %s AND source = 'manual'", (creator,)
            )
        }
        videos = {
            v
            for (v,) in conn.execute("SELECT DISTINCT video_id FROM video_face_detections WHERE id = ANY(%s)", (named,))
        }
        statuses = {
            s
            for (s,) in conn.execute(
                "SELECT DISTINCT match_status FROM video_face_detections WHERE id = ANY(%s)", (named,)
            )
        }
    assert tagged == videos and len(videos) == 2 and statuses == {"manual"}
    assert client.post(f"{API}/cluster/{a}/name", json={"name": "Again"}).status_code == 400  # named already

    assert client.post(f"{API}/cluster/{c}/ignore").status_code == 200
    assert c not in {x["id"] for x in client.get(f"{API}/clusters").json()["items"]}
    assert c in {x["id"] for x in client.get(f"{API}/clusters", params={"status": "ignored"}).json()["items"]}


def config_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT key, value, updated_at FROM face_recognition_config ORDER BY key").fetchall()


@pytest.mark.parametrize(
    "body, says",
    [
        ({"match_threshold": 0.4, "colour": "red"}, "colour"),
        ({"match_threshold": 1.5}, "match_threshold"),
        ({"auto_tag_threshold": -0.1}, "auto_tag_threshold"),
        ({"match_threshold": 0.6, "auto_tag_threshold": 0.5}, "auto_tag_threshold must be >= match_threshold"),
        ({"match_threshold": 0.5}, "auto_tag_threshold (0.45) must be >= match_threshold (0.5)"),  # with the stored one
        ({"frames_per_video": 0}, "frames_per_video"),
        ({"frames_per_video": 2.5}, "frames_per_video"),
        ({"enabled": "yes"}, "enabled"),
        ({}, "no setting"),
    ],
)
def test_config_validation_writes_nothing(migrated_db, body, says):
    from face_assets.web.app import create_app

    before = config_rows(migrated_db)
    with TestClient(create_app(database_url=migrated_db), base_url=BASE) as client:
        r = client.patch(f"{API}/config", json=body)
    assert r.status_code == 422, r.text
    assert says in r.text
    assert config_rows(migrated_db) == before


def test_config_change_is_what_matching_reads(migrated_db):
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.web.app import create_app

    with TestClient(create_app(database_url=migrated_db), base_url=BASE) as client:
        assert client.get(f"{API}/config").json()["match_threshold"] == pytest.approx(0.30)
        r = client.patch(f"{API}/config", json={"match_threshold": 0.35, "frames_per_video": 8})
        assert r.status_code == 200, r.text
        assert r.json()["match_threshold"] == pytest.approx(0.35) and r.json()["frames_per_video"] == 8
    with psycopg.connect(migrated_db) as conn:
        config = RecognitionConfig.load(conn)
    assert config.match_threshold == pytest.approx(0.35) and config.frames_per_video == 8


def test_stats(seeded, client):
    _url, data = seeded
    stats = client.get(f"{API}/stats").json()
    assert stats["matches_awaiting_review"] == len(data.pending) and stats["clusters_open"] == 3


def test_a_decision_made_while_face_matches_writes_the_same_video_is_kept(seeded, client):
    """A face_matches run holds the video's rows in its transaction; a confirmation of one of them waits for it, then
    lands, and the run (which keeps decided rows) does not overwrite it."""
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.recognition.matching import match_detections

    url, data = seeded
    video = data.videos[4]
    face = data.by_video[video][0]
    with psycopg.connect(url) as conn:  # make every face of the video stale, so the run rewrites each row
        conn.execute(
            "UPDATE video_face_detections SET match_confidence = match_confidence - 0.01 WHERE video_id = %s", (video,)
        )
    run = connect(url)
    try:
        summary = match_detections(run, RecognitionConfig.load(run), video_ids=[video])  # not committed yet
        assert summary.rows_written >= len(data.by_video[video])
        result: dict = {}
        t = threading.Thread(target=lambda: result.update(r=client.post(f"{API}/confirm/{face}")))
        t.start()
        time.sleep(1.5)
        assert t.is_alive(), "the decision should wait for the run's transaction"
        run.commit()
        t.join(60)
    finally:
        run.close()
    assert result["r"].status_code == 200, result["r"].text
    assert face_row(url, face)[0] == "manual"
    # The next run leaves the decision alone.
    with connect(url) as conn:
        match_detections(conn, RecognitionConfig.load(conn), video_ids=[video])
    assert face_row(url, face)[0] == "manual"
    assert tags(url, video)


def test_process_queues_a_process_videos_run_for_the_partition(seeded, tmp_path):
    """POST process/{videoId} puts a run of process_videos for that partition in the instance's run queue (the
    daemon's QueuedRunCoordinator launches it); a video that is no partition is a 409."""
    from dagster import DagsterRunStatus, instance_for_test

    from face_assets.web.app import create_app

    url, data = seeded
    video, other = data.videos[0], data.videos[1]
    queued = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
    with instance_for_test(temp_dir=str(tmp_path), overrides={"run_coordinator": queued}) as instance:
        instance.add_dynamic_partitions("videos", [str(video)])
        with TestClient(create_app(database_url=url, instance_factory=lambda: instance), base_url=BASE) as client:
            r = client.post(f"{API}/process/{video}")
            assert r.status_code == 200, r.text
            refused = client.post(f"{API}/process/{other}")
        run = instance.get_run_by_id(r.json()["run_id"])
        assert run is not None and run.job_name == "process_videos"
        assert run.status == DagsterRunStatus.QUEUED and run.tags["dagster/partition"] == str(video)
        assert refused.status_code == 409 and "not a partition" in refused.json()["detail"]
