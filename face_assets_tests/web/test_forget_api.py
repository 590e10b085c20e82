"""Forgetting a person through the HTTP API (DELETE /api/face-recognition/creator/{id}/faces and
DELETE /api/face-recognition/cluster/{id}) and the confirmation the pages carry, against real PostgreSQL (the migrated
fixture database + faces from seed.py). What is left after a forget on the whole pipeline's data is
face_assets_tests/review/test_forget.py's; the confirmation clicked in a browser is test_browser_forget.py's."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from face_assets_tests.web.seed import seed

BASE = "http://127.0.0.1:3001"
API = "/api/face-recognition"


@pytest.fixture
def seeded(migrated_db, tmp_path, monkeypatch):
    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path / "home"))
    return migrated_db, seed(migrated_db, crops_dir=tmp_path / "home" / "crops" / "seed")


@pytest.fixture
def client(seeded):
    from face_assets.web.app import create_app

    url, _ = seeded
    with TestClient(create_app(database_url=url), base_url=BASE) as c:
        yield c


def one(url: str, query: str, *params) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


def test_forget_a_creator(seeded, client, tmp_path):
    url, data = seeded
    alpha = data.creators["Api Alpha"]
    faces = one(url, "SELECT count(*) FROM video_face_detections WHERE matched_creator_id = %s", alpha)
    videos = sorted(data.videos[::2])  # seed.py puts Api Alpha's faces in every other video
    assert faces > 0

    page = client.get(f"/creators/{alpha}")
    assert page.status_code == 200
    assert f'data-forget-person="/creator/{alpha}/faces"' in page.text and 'id="forget-panel"' in page.text
    assert "This cannot be undone" in page.text and "Forgotten on" not in page.text

    r = client.delete(f"{API}/creator/{alpha}/faces")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "creator" and body["id"] == alpha and body["name"] == "Api Alpha"
    assert body["faces"] == faces and body["face_videos"] == videos and body["embeddings"] == 1
    assert body["forgotten_before"] is None and body["files"]["crops_deleted"] == 1  # one crop file, shared
    assert any("forgot creator 'Api Alpha'" in line for line in body["decisions"])
    assert one(url, "SELECT count(*) FROM video_face_detections WHERE matched_creator_id = %s", alpha) == 0
    assert one(url, "SELECT count(*) FROM creator_face_embeddings WHERE creator_id = %s", alpha) == 0
    assert one(url, "SELECT count(*) FROM forgotten_creators WHERE creator_id = %s", alpha) == 1
    assert not (tmp_path / "home" / "crops" / "seed" / "face.jpg").exists()

    # The page says so, with no button left to press; forgetting again finds nothing and says when it was done.
    page = client.get(f"/creators/{alpha}")
    assert "Forgotten on" in page.text and "data-forget-person" not in page.text and "data-train" not in page.text
    again = client.delete(f"{API}/creator/{alpha}/faces").json()
    assert again["forgotten_before"] and again["faces"] == 0

    # Nothing makes a face theirs again: a decision naming them is refused (400), nothing written.
    face = data.by_video[data.videos[1]][0]
    r = client.post(f"{API}/assign/{face}", json={"creator_id": alpha})
    assert r.status_code == 400 and "forgotten" in r.json()["detail"]


def test_forget_a_cluster(seeded, client):
    url, data = seeded
    cluster, named = data.clusters[0], data.clusters[1]
    size = len(data.cluster_faces[cluster])

    page = client.get(f"/people/{cluster}")
    assert f'data-forget-person="/cluster/{cluster}"' in page.text and 'id="forget-panel"' in page.text

    r = client.delete(f"{API}/cluster/{cluster}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "cluster" and body["faces"] == size and body["clusters_removed"] == [cluster]
    ids = data.cluster_faces[cluster]
    assert one(url, "SELECT count(*) FROM video_face_detections WHERE id = ANY(%s)", ids) == 0
    assert one(url, "SELECT count(*) FROM forgotten_faces") == size
    assert client.delete(f"{API}/cluster/{cluster}").status_code == 404
    assert client.get(f"/people/{cluster}").status_code == 404

    # A named cluster is a creator: 400, saying to forget the creator; nothing deleted.
    assert client.post(f"{API}/cluster/{named}/name", json={"name": "Named Person"}).status_code == 200
    r = client.delete(f"{API}/cluster/{named}")
    assert r.status_code == 400 and "forget the creator" in r.json()["detail"]
    assert one(url, "SELECT count(*) FROM face_clusters WHERE id = %s", named) == 1
    assert "forget the creator on" in client.get(f"/people/{named}").text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/creator/999999/faces", 404),
        ("/cluster/999999", 404),
        ("/creator/abc/faces", 422),
        ("/cluster/abc", 422),
        ("/creator/0/faces", 422),
        ("/cluster/-3", 422),
        ("/creator/99999999999/faces", 422),
        ("/cluster/1.5", 422),
    ],
)
def test_unknown_and_bad_ids(seeded, client, path, status):
    url, _ = seeded
    before = one(url, "SELECT count(*) FROM video_face_detections")
    r = client.delete(API + path)
    assert r.status_code == status, r.text
    assert one(url, "SELECT count(*) FROM video_face_detections") == before


def test_a_forget_from_another_site_is_refused(seeded, client):
    url, data = seeded
    alpha = data.creators["Api Alpha"]
    r = client.delete(f"{API}/creator/{alpha}/faces", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert one(url, "SELECT count(*) FROM creator_face_embeddings WHERE creator_id = %s", alpha) == 1
