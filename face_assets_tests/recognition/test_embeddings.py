"""`creator_embeddings` with the real fixture model (buffalo_sc on CPU) on real PostgreSQL, and its sensor."""

import os
import shutil

import cv2
import numpy as np
import psycopg
import pytest
from dagster import AssetKey, RunRequest, SkipReason, build_sensor_context, materialize

from face_assets.recognition.embeddings import (
    FILE_NOT_FOUND,
    NO_FACE,
    NOT_AN_IMAGE,
    picture_changes,
    sync_creator_embeddings,
)
from face_assets_tests.conftest import LIBRARY
from face_assets_tests.recognition.test_matching import add_embedding, connect, setup_schema

PICTURES = LIBRARY / "profile-pictures"


def resources(url: str) -> dict:
    from face_assets.defs.faces.resources import FaceEngineResource
    from face_assets.defs.resources import PostgresResource

    return {"database": PostgresResource(url=url), "face_engine": FaceEngineResource()}


def rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, creator_id, source_type, source_path, source_fingerprint, quality_score, updated_at,"
            " embedding::text FROM creator_face_embeddings ORDER BY id"
        ).fetchall()


def issues(url: str) -> dict[tuple[int, str], str]:
    with psycopg.connect(url) as conn:
        return {
            (c, p): r
            for c, p, r in conn.execute("SELECT creator_id, source_path, reason FROM creator_embedding_issues")
        }


class NoModel:
    """An engine that must not be used: re-materializing unchanged pictures runs no model."""

    model_name = "buffalo_sc"

    def detect(self, images):
        raise AssertionError(f"the model ran on {len(images)} images")


@pytest.fixture(scope="module")
def library(module_migrated_db, tmp_path_factory):
    """creator_embeddings materialized once, through Dagster, on the migrated fixture database."""
    home = tmp_path_factory.mktemp("embeddings_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACE_ASSETS_HOME", str(home))
        from face_assets.defs.faces.assets import creator_embeddings

        result = materialize([creator_embeddings], resources=resources(module_migrated_db))
        assert result.success
        metadata = result.asset_materializations_for_node("creator_embeddings")[0].metadata
        yield module_migrated_db, {k: v.value for k, v in metadata.items()}


def test_every_creator_with_a_picture_gets_one_profile_embedding(library, truth):
    url, metadata = library
    with psycopg.connect(url) as conn:
        got = conn.execute(
            "SELECT c.name, count(*), min(e.quality_score), max(e.quality_score), min(e.source_path)"
            " FROM creator_face_embeddings e JOIN creators c ON c.id = e.creator_id"
            " WHERE e.source_type = 'profile_picture' GROUP BY c.name"
        ).fetchall()
        norms = [float(n) for (n,) in conn.execute("SELECT vector_norm(embedding) FROM creator_face_embeddings")]
    assert {name for name, *_ in got} == set(truth["creators_with_pictures"])
    for name, count, low, high, path in got:
        assert count == 1
        assert 0.5 <= low <= high <= 1.0  # the detection score of the chosen face
        assert path == str(LIBRARY / truth["creators_with_pictures"][name])
    assert norms == pytest.approx([1.0] * 10, abs=1e-4)
    assert metadata["embedded"] == 10 and metadata["images_through_model"] == 10


def test_missing_pictures_are_issues_and_in_the_metadata(library):
    url, metadata = library
    found = issues(url)
    with psycopg.connect(url) as conn:
        wanted = conn.execute("SELECT count(*) FROM creators WHERE profile_picture_path IS NOT NULL").fetchone()[0]
    assert len(found) == wanted - 10 == metadata["issues"]
    assert set(found.values()) == {FILE_NOT_FOUND}
    assert "file not found" in metadata["issue_list"]


def test_rematerializing_adds_nothing_and_runs_no_model(library):
    url, _ = library
    before = rows(url)
    with connect(url) as conn:
        summary = sync_creator_embeddings(conn, NoModel())
    assert (summary.embedded, summary.replaced, summary.deleted, summary.unchanged) == (0, 0, 0, 10)
    assert rows(url) == before


def write_no_face_image(path):
    gradient = np.tile(np.linspace(40, 220, 240, dtype=np.uint8), (200, 1))
    cv2.imwrite(str(path), cv2.merge([gradient, gradient, gradient]))


def test_bad_pictures_changes_and_reference_images(fresh_db, tmp_path, monkeypatch):
    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path / "home"))
    setup_schema(fresh_db, creators=5, videos=1)
    picture = tmp_path / "pics" / "one.jpg"
    picture.parent.mkdir()
    shutil.copyfile(PICTURES / "ariel_sharon.jpg", picture)
    (tmp_path / "pics" / "notes.jpg").write_text("this is not an image\n")
    write_no_face_image(tmp_path / "pics" / "landscape.png")
    reference = tmp_path / "home" / "reference" / "5"
    reference.mkdir(parents=True)
    shutil.copyfile(PICTURES / "hugo_chavez.jpg", reference / "hugo.jpg")
    (reference / "readme.txt").write_text("not an image, not even by name: ignored")
    paths = {
        1: picture,
        2: tmp_path / "pics" / "missing.jpg",
        3: tmp_path / "pics" / "notes.jpg",
        4: tmp_path / "pics" / "landscape.png",
    }
    engine = resources(fresh_db)["face_engine"]
    with connect(fresh_db) as conn:
        for creator_id, path in paths.items():
            conn.execute("UPDATE creators SET profile_picture_path = %s WHERE id = %s", (str(path), creator_id))
        video_frame = add_embedding(conn, 1, np.eye(512, dtype=np.float32)[0], "video_frame", "/crops/1.jpg")
        conn.commit()

        first = sync_creator_embeddings(conn, engine)
        assert (first.embedded, first.images_through_model) == (2, 3)  # the text file never reaches the model
        assert issues(fresh_db) == {
            (2, str(paths[2])): FILE_NOT_FOUND,
            (3, str(paths[3])): NOT_AN_IMAGE,
            (4, str(paths[4])): NO_FACE,
        }
        original = {r[2]: r for r in rows(fresh_db)}
        assert set(original) == {"profile_picture", "manual", "video_frame"}
        assert original["manual"][3] == str(reference / "hugo.jpg")

        # The picture changes content: its embedding is replaced in place (same row, new vector and fingerprint).
        shutil.copyfile(PICTURES / "colin_powell.jpg", picture)
        second = sync_creator_embeddings(conn, engine)
        assert (second.embedded, second.replaced, second.unchanged) == (0, 1, 3)  # problem pictures: not retried
        assert second.images_through_model == 1
        now = {r[2]: r for r in rows(fresh_db)}
        assert now["profile_picture"][0] == original["profile_picture"][0]
        assert now["profile_picture"][4] != original["profile_picture"][4]
        assert now["profile_picture"][7] != original["profile_picture"][7]
        assert now["profile_picture"][6] > original["profile_picture"][6]  # updated_at moved
        similarity = conn.execute(
            "SELECT 1 - (%s::vector <=> %s::vector)", (now["profile_picture"][7], original["profile_picture"][7])
        ).fetchone()[0]
        assert similarity < 0.3  # another person

        # Touched, same content: new fingerprint, no model run.
        stat = picture.stat()
        os.utime(picture, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
        touched = sync_creator_embeddings(conn, NoModel())
        assert (touched.touched, touched.replaced) == (1, 0)

        # The creator drops the picture, the reference image goes: both embeddings go; the video_frame row stays.
        conn.execute("UPDATE creators SET profile_picture_path = NULL WHERE id = 1")
        (reference / "hugo.jpg").unlink()
        conn.commit()
        gone = sync_creator_embeddings(conn, NoModel())
        assert gone.deleted == 2
        assert [(r[0], r[2]) for r in rows(fresh_db)] == [(video_frame, "video_frame")]
        assert set(issues(fresh_db)) == {(2, str(paths[2])), (3, str(paths[3])), (4, str(paths[4]))}

        # An unmounted disk (the picture's folder is gone) keeps the embedding and says so.
        conn.execute("UPDATE creators SET profile_picture_path = %s WHERE id = 1", (str(picture),))
        conn.commit()
        sync_creator_embeddings(conn, engine)
        conn.execute(
            "UPDATE creators SET profile_picture_path = %s WHERE id = 1", (str(tmp_path / "unmounted" / "one.jpg"),)
        )
        conn.commit()
        kept = sync_creator_embeddings(conn, NoModel())
        assert kept.kept_unavailable == 0 and kept.deleted == 1  # a path no longer referenced is stale
        conn.execute("UPDATE creators SET profile_picture_path = %s WHERE id = 1", (str(picture),))
        conn.commit()
        sync_creator_embeddings(conn, engine)
        shutil.move(str(picture.parent), str(tmp_path / "moved"))
        try:
            unmounted = sync_creator_embeddings(conn, NoModel())
        finally:
            shutil.move(str(tmp_path / "moved"), str(picture.parent))
        assert (unmounted.kept_unavailable, unmounted.deleted) == (1, 0)
        assert "not mounted" in issues(fresh_db)[(1, str(picture))]


def test_sensor_requests_a_run_for_new_and_changed_pictures(fresh_db, tmp_path, monkeypatch):
    from face_assets.defs.faces.sensors import creator_pictures_sensor

    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path / "home"))
    setup_schema(fresh_db, creators=3, videos=1)
    picture = tmp_path / "one.jpg"
    shutil.copyfile(PICTURES / "ariel_sharon.jpg", picture)
    write_no_face_image(tmp_path / "landscape.png")
    with connect(fresh_db) as conn:
        conn.execute("UPDATE creators SET profile_picture_path = %s WHERE id = 1", (str(picture),))
        conn.execute("UPDATE creators SET profile_picture_path = %s WHERE id = 2", (str(tmp_path / "landscape.png"),))
        conn.execute("UPDATE creators SET profile_picture_path = %s WHERE id = 3", (str(tmp_path / "missing.jpg"),))
    res = resources(fresh_db)

    def tick(cursor=None):
        context = build_sensor_context(cursor=cursor, resources=res)
        return creator_pictures_sensor(context), context.cursor

    first, cursor = tick()
    assert isinstance(first, RunRequest) and first.asset_selection == [AssetKey("creator_embeddings")]
    assert first.run_key.startswith("creator-pictures-") and "2 new" in first.tags["face_assets/picture_changes"]
    again, same_cursor = tick(cursor)
    assert isinstance(again, SkipReason) and same_cursor == cursor

    with connect(fresh_db) as conn:
        sync_creator_embeddings(conn, res["face_engine"])
        # The face-less picture never gets an embedding, but it is a known problem now: no change.
        assert picture_changes(conn, "buffalo_sc") == []
    quiet, cursor = tick(cursor)
    assert isinstance(quiet, SkipReason) and "no new or changed" in quiet.skip_message

    shutil.copyfile(PICTURES / "colin_powell.jpg", picture)  # a changed picture: size and mtime differ
    changed, cursor = tick(cursor)
    assert isinstance(changed, RunRequest) and "1 changed" in changed.tags["face_assets/picture_changes"]
