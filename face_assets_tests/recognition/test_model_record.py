"""One model per database (face_assets.recognition.model_record): the record, its adoption by a database from before,
and every entry point refusing another model in one line (preflight of run/dev/serve, the sensors, the assets that
embed, the recognize API), on real PostgreSQL.

The second model: only buffalo_sc exists offline, so tests make one at test time (`second_pack`): buffalo_sc's
detector (a symlink) with its recognizer followed by a fixed random rotation of the 512-d embedding (one MatMul
appended to the ONNX graph). A genuinely other model: its embedding of a face is the old one rotated (cosine with the
old one near 0, so comparing across the two means nothing), while similarities between faces of the same model are
the old ones; so a re-embedded database must match exactly as before, which the reembed test checks. `same_pack`
is buffalo_sc's files under another name (the same model: accepted).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import psycopg
import pytest
from dagster import SkipReason, build_sensor_context, materialize
from fastapi.testclient import TestClient

from face_assets_tests.conftest import FIXTURES, LIBRARY, _create_database, _drop_database, require_fixtures

FIXTURE_PACK = FIXTURES / "models" / "buffalo_sc"
RECOGNIZER = "w600k_mbf_int8.onnx"
DETECTOR = "det_500m.onnx"
BASE = "http://127.0.0.1:3001"
PORTRAIT = FIXTURES / "lfw_dev" / "images" / "George_W_Bush" / "George_W_Bush_0001.jpg"


def rotation(seed: int = 17) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((512, 512)))
    return q.astype(np.float32)


def second_pack(root: Path, name: str = "buffalo_sc_rot", seed: int = 17) -> Path:
    """<root>/models/<name>: buffalo_sc's detector, and its recognizer with the embedding rotated by `rotation(seed)`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder = root / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(FIXTURE_PACK / RECOGNIZER))
    graph = model.graph
    output = graph.output[0]
    graph.initializer.append(numpy_helper.from_array(rotation(seed), "rotation"))
    graph.node.append(helper.make_node("MatMul", [output.name, "rotation"], ["rotated"]))
    graph.output.remove(output)
    graph.output.append(helper.make_tensor_value_info("rotated", TensorProto.FLOAT, [None, 512]))
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / RECOGNIZER.replace(".onnx", "_rotated.onnx")))
    (folder / DETECTOR).symlink_to(FIXTURE_PACK / DETECTOR)
    return folder


def same_pack(root: Path, name: str = "buffalo_sc_copy") -> Path:
    """buffalo_sc's own files under another name."""
    folder = root / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    for f in (DETECTOR, RECOGNIZER):
        (folder / f).symlink_to(FIXTURE_PACK / f)
    return folder


def fixture_model():
    from face_assets.recognition.model_record import ModelIdentity

    return ModelIdentity.of("buffalo_sc", str(FIXTURES))


def record(url: str, model) -> None:
    """The database's first embedding, as face_detections writes it: the model is claimed in the transaction."""
    from face_assets.recognition.model_record import claim_model

    with psycopg.connect(url) as conn, conn.transaction():
        claim_model(conn, model)


def recorded(url: str):
    from face_assets.recognition.model_record import recorded_model

    with psycopg.connect(url) as conn:
        return recorded_model(conn)


def test_a_pack_is_known_by_its_files(tmp_path):
    require_fixtures()
    from face_assets.recognition.model_record import ModelIdentity

    model = fixture_model()
    assert model.name == "buffalo_sc" and len(model.fingerprint) == 64 and model.folder == str(FIXTURE_PACK)
    assert ModelIdentity.of(str(FIXTURE_PACK)) == model  # FACE_ASSETS_MODEL may name the folder itself
    same_pack(tmp_path)
    copy = ModelIdentity.of("buffalo_sc_copy", str(tmp_path))
    assert copy.fingerprint == model.fingerprint and copy.name == "buffalo_sc_copy"
    second_pack(tmp_path)
    other = ModelIdentity.of("buffalo_sc_rot", str(tmp_path))
    assert other.fingerprint not in (None, model.fingerprint)
    missing = ModelIdentity.of("buffalo_l", str(tmp_path))  # not here: known by name only, nothing downloaded
    assert (missing.name, missing.fingerprint, missing.folder) == ("buffalo_l", None, None)
    assert not (tmp_path / "models" / "buffalo_l").exists()


def test_the_first_embedding_records_the_model_and_another_is_refused_in_one_line(migrated_db, tmp_path):
    require_fixtures()
    from face_assets.db.schema_upgrade import upgrade
    from face_assets.recognition.model_record import ModelIdentity, ModelMismatch, check_model, claim_model

    with psycopg.connect(migrated_db) as conn:
        upgrade(conn)
        assert check_model(conn, ModelIdentity.of("buffalo_l", str(tmp_path))) is None  # no embedding: any model
    model = fixture_model()
    record(migrated_db, model)
    first = recorded(migrated_db)
    assert (first.name, first.fingerprint, first.source) == ("buffalo_sc", model.fingerprint, "first_embedding")

    second_pack(tmp_path)
    same_pack(tmp_path)
    with psycopg.connect(migrated_db) as conn:
        assert check_model(conn, ModelIdentity.of("buffalo_sc_copy", str(tmp_path))).name == "buffalo_sc"
        for name, expected in (("buffalo_sc_rot", "buffalo_sc_rot"), ("buffalo_l", "buffalo_l")):
            with pytest.raises(ModelMismatch) as refused:
                check_model(conn, ModelIdentity.of(name, str(tmp_path)))
            message = str(refused.value)
            assert "\n" not in message
            assert f"come from model buffalo_sc (version {model.fingerprint[:12]})" in message
            assert "FACE_ASSETS_MODEL=buffalo_sc" in message and f"`face-assets reembed --model {expected}`" in message
        with pytest.raises(ModelMismatch), conn.transaction():  # a writer of another model is refused too
            claim_model(conn, ModelIdentity.of("buffalo_sc_rot", str(tmp_path)))
    assert recorded(migrated_db) == first


def add_face(conn, video_id: int, model_name: str | None) -> None:
    """A face and its scan as the code before the record wrote them (the scan names the model)."""
    conn.execute(
        "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
        " bbox_width, bbox_height) VALUES (%s, 1, 0, %s, 0, 0, 80, 80)",
        (video_id, "[" + ",".join(["0.0441941738"] * 512) + "]"),
    )
    conn.execute(
        "INSERT INTO video_face_scans (video_id, status, frames, faces, model) VALUES (%s, 'processed', 5, 1, %s)"
        " ON CONFLICT (video_id) DO UPDATE SET faces = video_face_scans.faces + 1",
        (video_id, model_name),
    )


def test_a_database_from_before_adopts_the_model_that_wrote_it(migrated_db, tmp_path):
    """Faces and pictures from before the record (a schema at version 1): the model named by the scans of the most
    faces is inferred at once, and adopted by the upgrade; its fingerprint comes with the first use of its pack."""
    require_fixtures()
    from face_assets.db.schema_upgrade import upgrade
    from face_assets.recognition.model_record import ModelIdentity, ModelMismatch, check_model

    with psycopg.connect(migrated_db) as conn:
        videos = [r[0] for r in conn.execute("SELECT id FROM videos ORDER BY id LIMIT 2")]
        add_face(conn, videos[0], f"{FIXTURES}/models/buffalo_sc")  # FACE_ASSETS_MODEL was the pack folder
        add_face(conn, videos[0], f"{FIXTURES}/models/buffalo_sc")
        add_face(conn, videos[1], "buffalo_l")
        conn.execute(
            "INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path, source_fingerprint)"
            " SELECT min(id), %s, 'profile_picture', '/p.jpg', 'buffalo_l|1|2|abc' FROM creators",
            ("[" + ",".join(["0.0441941738"] * 512) + "]",),
        )
    before = recorded(migrated_db)
    assert (before.name, before.fingerprint, before.source) == ("buffalo_sc", None, "inferred")

    with psycopg.connect(migrated_db) as conn:
        upgrade(conn)
    adopted = recorded(migrated_db)
    assert (adopted.name, adopted.fingerprint, adopted.source) == ("buffalo_sc", None, "adopted")
    model = fixture_model()
    with psycopg.connect(migrated_db) as conn:
        check_model(conn, model)  # the pack of that name is used: its fingerprint is taken
    assert recorded(migrated_db).fingerprint == model.fingerprint

    # Another version of the pack under the same name is another model.
    second_pack(tmp_path, name="buffalo_sc")
    with psycopg.connect(migrated_db) as conn, pytest.raises(ModelMismatch) as refused:
        check_model(conn, ModelIdentity.of("buffalo_sc", str(tmp_path)))
    assert "is another version" in str(refused.value) and "\n" not in str(refused.value)


@pytest.fixture
def recorded_db(migrated_db):
    """The migrated fixture database, its embeddings recorded as buffalo_sc's."""
    require_fixtures()
    from face_assets.db.schema_upgrade import upgrade

    with psycopg.connect(migrated_db) as conn:
        upgrade(conn)
    record(migrated_db, fixture_model())
    return migrated_db


def test_run_dev_and_serve_refuse_another_model_in_one_line(recorded_db, monkeypatch):
    """The issue's case: the demo's buffalo_sc database, FACE_ASSETS_MODEL unset (buffalo_l, not on this machine)."""
    import subprocess
    import sys

    from face_assets.cli import preflight

    monkeypatch.setenv("DATABASE_URL", recorded_db)
    monkeypatch.delenv("FACE_ASSETS_MODEL")
    for needs in (preflight.Needs(model=True, same_model=True), preflight.Needs.for_dev(), preflight.Needs.for_serve()):
        found = [p for p in preflight.problems(needs) if "library" not in p and "legacy" not in p]
        assert len(found) == 1, found  # the mismatch alone, not also "buffalo_l not found"
        assert found[0].startswith("the database's embeddings come from model buffalo_sc (version ")
        assert "configured with buffalo_l" in found[0] and "face-assets reembed --model buffalo_l" in found[0]
    # face-assets serve, as a person starts it: exit 2, that line, and nothing started.
    env = {**os.environ, "DATABASE_URL": recorded_db}
    done = subprocess.run(
        [sys.executable, "-m", "face_assets.cli", "serve", "--port", "3998"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("face-assets: the database's embeddings come from model buffalo_sc")
    assert "nothing was started" in lines[1]
    # `face-assets doctor` shows it in its table, and counts it as missing.
    from face_assets.cli import doctor

    rows, missing = doctor.collect()
    row = next(r for r in rows if r.what.strip() == "embeddings' model")
    assert row.state == doctor.MISSING and "not the configured buffalo_l" in row.value
    assert [m for m in missing if m.startswith("the database's embeddings come from model buffalo_sc")]
    # With the database's model, the same checks pass.
    monkeypatch.setenv("FACE_ASSETS_MODEL", "buffalo_sc")
    assert preflight.check_same_model(recorded_db) == []
    row = next(r for r in doctor.collect()[0] if r.what.strip() == "embeddings' model")
    assert row.state == doctor.OK and row.value.startswith("buffalo_sc (version ")


def test_the_api_answers_503_with_the_reason_never_a_500(recorded_db, pg_server, monkeypatch):
    require_fixtures()
    from face_assets.web.app import create_app

    photo = {"photo": ("p.jpg", PORTRAIT.read_bytes(), "image/jpeg")}
    monkeypatch.delenv("FACE_ASSETS_MODEL")  # buffalo_l: not here, and downloads are off
    with TestClient(create_app(database_url=recorded_db), base_url=BASE) as client:
        r = client.post("/api/face-recognition/recognize", files=photo)
        assert r.status_code == 503, r.text
        assert r.json()["detail"].startswith("the database's embeddings come from model buffalo_sc")
        assert "\n" not in r.json()["detail"]
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "unhealthy"  # the legacy client reads 2xx
        assert "come from model buffalo_sc" in health.json()["model_error"]
        r = client.post("/api/face-recognition/creator/1/references", files=photo)
        assert r.status_code == 503 and "come from model buffalo_sc" in r.json()["detail"]

    # No record yet (an empty database), and a model that cannot be loaded: 503 saying why.
    empty = _create_database(pg_server, "t")
    try:
        with TestClient(create_app(database_url=empty), base_url=BASE) as client:
            r = client.post("/api/face-recognition/recognize", files=photo)
            assert r.status_code == 503, r.text
            assert r.json()["detail"].startswith("the face model cannot be loaded: ")
            assert "buffalo_l" in r.json()["detail"]
    finally:
        _drop_database(pg_server, empty)

    # The database's model: the photo is recognized.
    monkeypatch.setenv("FACE_ASSETS_MODEL", "buffalo_sc")
    with TestClient(create_app(database_url=recorded_db), base_url=BASE) as client:
        r = client.post("/api/face-recognition/recognize", files=photo)
        assert r.status_code == 200, r.text
        assert len(r.json()["faces"]) == 1


def test_the_sensors_and_the_assets_that_embed_refuse_another_model(recorded_db, tmp_path, monkeypatch):
    from face_assets.defs.faces.assets import creator_embeddings
    from face_assets.defs.faces.resources import FaceEngineResource
    from face_assets.defs.faces.sensors import creator_pictures_sensor
    from face_assets.defs.library.sensors import library_sensor
    from face_assets.defs.resources import PostgresResource

    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACE_ASSETS_LIBRARY", str(LIBRARY))
    second_pack(tmp_path)
    other = FaceEngineResource(model_name="buffalo_sc_rot", model_root=str(tmp_path))
    database = PostgresResource(url=recorded_db)

    result = creator_pictures_sensor(
        build_sensor_context(resources={"database": database, "face_engine": other}, cursor=None)
    )
    assert isinstance(result, SkipReason)
    assert result.skip_message.startswith("the database's embeddings come from model buffalo_sc")
    monkeypatch.setenv("FACE_ASSETS_MODEL", "buffalo_sc_rot")
    monkeypatch.setenv("FACE_ASSETS_MODEL_ROOT", str(tmp_path))
    ticked = library_sensor(build_sensor_context(resources={"database": database}))
    assert not ticked.run_requests and "come from model buffalo_sc" in ticked.skip_reason.skip_message

    run = materialize(
        [creator_embeddings], resources={"database": database, "face_engine": other}, raise_on_error=False
    )
    assert not run.success
    failure = next(e for e in run.all_events if e.is_step_failure).step_failure_data
    assert failure.user_failure_data.description.startswith("the database's embeddings come from model buffalo_sc")
    with psycopg.connect(recorded_db) as conn:
        assert conn.execute("SELECT count(*) FROM creator_face_embeddings").fetchone()[0] == 0


def test_the_67b5dc8_database_adopts_the_model_that_made_it(fresh_db, monkeypatch):
    """The dump of a database made before the record (face_assets_tests/db/fixtures): buffalo_sc's, by its rows."""
    require_fixtures()
    import subprocess

    from face_assets.cli import preflight
    from face_assets.db.schema_upgrade import upgrade
    from face_assets_tests.db.test_schema_upgrade import OLD_DUMP, _pg_bin

    old_db = fresh_db
    subprocess.run([_pg_bin("pg_restore"), "--no-owner", "-d", old_db, str(OLD_DUMP)], capture_output=True)

    assert (recorded(old_db).name, recorded(old_db).source) == ("buffalo_sc", "inferred")
    monkeypatch.setenv("FACE_ASSETS_MODEL", "buffalo_l")
    [line] = preflight.check_same_model(old_db)  # refused before the upgrade already
    assert line.startswith("the database's embeddings come from model buffalo_sc, but")
    with psycopg.connect(old_db) as conn:
        upgrade(conn)
    assert (recorded(old_db).name, recorded(old_db).source) == ("buffalo_sc", "adopted")
    monkeypatch.setenv("FACE_ASSETS_MODEL", "buffalo_sc")
    assert preflight.check_same_model(old_db) == []
    assert recorded(old_db).fingerprint == fixture_model().fingerprint
