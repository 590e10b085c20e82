"""The legacy app's face service (/health, /detect, /extract-embedding) over HTTP, with fixture photos, the fixture
model pack and real PostgreSQL; the bounded inference pool (503 + Retry-After) held deterministically."""

from __future__ import annotations

import base64
import io
import socket
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from face_assets_tests.conftest import FIXTURES, require_fixtures

BASE = "http://127.0.0.1:3001"
API = "/api/face-recognition"
PHOTOS = FIXTURES / "lfw_dev" / "images"
PORTRAIT = PHOTOS / "George_W_Bush" / "George_W_Bush_0001.jpg"
OTHER = PHOTOS / "Colin_Powell" / "Colin_Powell_0001.jpg"


def app(url: str, **kwargs):
    from face_assets.web.app import create_app

    return create_app(database_url=url, **kwargs)


@pytest.fixture(scope="module")
def client(module_migrated_db):
    with TestClient(app(module_migrated_db), base_url=BASE) as c:
        yield c


def as_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def detect_file(client, path: str, content: bytes, name: str = "photo.jpg", mime: str = "image/jpeg"):
    return client.post(path, files={"file": (name, content, mime)})


def detect_json(client, path: str, content: bytes, prefix: str = ""):
    return client.post(path, json={"image_base64": prefix + base64.b64encode(content).decode()})


def embedding(face: dict) -> np.ndarray:
    return np.asarray(face["embedding"], dtype=np.float32)


def test_detect_in_both_request_forms_gives_the_same_faces(client):
    require_fixtures()
    content = PORTRAIT.read_bytes()
    width, height = Image.open(PORTRAIT).size

    r = detect_file(client, "/detect", content)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"faces", "image_width", "image_height", "processing_time_ms"}
    assert (body["image_width"], body["image_height"]) == (width, height)
    assert body["processing_time_ms"] > 0
    assert len(body["faces"]) >= 1
    face = body["faces"][0]
    assert set(face) == {"bbox", "det_score", "embedding", "age", "gender"}
    x1, y1, x2, y2 = face["bbox"]
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    # LFW photos are centred on the labelled face.
    assert abs((x1 + x2) / 2 - width / 2) < width * 0.15 and abs((y1 + y2) / 2 - height / 2) < height * 0.2
    assert 0.5 <= face["det_score"] <= 1.0
    vector = embedding(face)
    assert vector.shape == (512,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    assert face["age"] is None and face["gender"] is None  # the fixture pack has no genderage model

    for answer in (
        detect_json(client, "/detect", content),
        detect_json(client, "/detect", content, "data:image/jpeg;base64,"),
    ):
        assert answer.status_code == 200, answer.text
        same = answer.json()
        assert [f["bbox"] for f in same["faces"]] == [f["bbox"] for f in body["faces"]]
        assert np.array_equal(embedding(same["faces"][0]), vector)

    # The same face as the pipeline's engine finds in the decoded photo, and another person is someone else.
    from face_assets.engine.face_engine import FaceEngine
    from face_assets.web.uploads import decode_photo

    direct = FaceEngine().detect([decode_photo(content)])[0][0]
    assert float(direct.embedding @ vector) > 0.999
    other = embedding(detect_file(client, "/detect", OTHER.read_bytes()).json()["faces"][0])
    assert float(other @ vector) < 0.3


def test_every_accepted_format_gives_the_same_embedding(client):
    require_fixtures()
    with Image.open(PORTRAIT) as photo:
        pixels = photo.convert("RGB")
    reference = embedding(
        detect_file(client, "/detect", as_bytes(pixels, "PNG"), "p.png", "image/png").json()["faces"][0]
    )
    # Lossless encodings of the same pixels: the same pixels reach the model.
    for fmt, options, mime in (
        ("BMP", {}, "image/bmp"),
        ("TIFF", {}, "image/tiff"),
        ("TIFF", {"compression": "tiff_lzw"}, "image/tiff"),
        ("WEBP", {"lossless": True}, "image/webp"),
    ):
        content = as_bytes(pixels, fmt, **options)
        r = detect_file(client, "/detect", content, f"p.{fmt.lower()}", mime)
        assert r.status_code == 200, (fmt, r.text)
        assert np.array_equal(embedding(r.json()["faces"][0]), reference), fmt
        assert np.array_equal(embedding(detect_json(client, "/detect", content).json()["faces"][0]), reference), fmt


def test_boxes_are_in_pixels_of_the_photo_as_sent(client):
    """A photo larger than the decode keeps (2048 px) is scaled down for the model; the answer is not."""
    require_fixtures()
    with Image.open(PORTRAIT) as photo:
        small = photo.convert("RGB")
    big = small.resize((3000, 3000), Image.Resampling.LANCZOS)
    at_small = detect_file(client, "/detect", as_bytes(small, "PNG"), "s.png", "image/png").json()
    r = detect_file(client, "/detect", as_bytes(big, "JPEG", quality=95))
    assert r.status_code == 200, r.text
    at_big = r.json()
    assert (at_big["image_width"], at_big["image_height"]) == (3000, 3000)
    factor = 3000 / small.width
    expected = np.asarray(at_small["faces"][0]["bbox"]) * factor
    assert np.allclose(at_big["faces"][0]["bbox"], expected, atol=0.05 * 3000 / 4)  # within a few % of the face
    assert float(embedding(at_big["faces"][0]) @ embedding(at_small["faces"][0])) > 0.9


def test_extract_embedding_is_the_largest_face(client):
    require_fixtures()
    # Two real faces on one canvas, one three times the other's size.
    canvas = Image.new("RGB", (1000, 600), (200, 200, 200))
    with Image.open(OTHER) as small, Image.open(PORTRAIT) as large:
        canvas.paste(small.convert("RGB").resize((150, 150)), (40, 40))
        canvas.paste(large.convert("RGB").resize((450, 450)), (500, 100))
    content = as_bytes(canvas, "JPEG", quality=95)

    for r in (detect_file(client, "/extract-embedding", content), detect_json(client, "/extract-embedding", content)):
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["faces"]) == 2
        assert body["embedding"] == body["faces"][0]["embedding"] and body["bbox"] == body["faces"][0]["bbox"]
        x1, _y1, x2, _y2 = body["bbox"]
        assert 500 <= x1 < x2 <= 950  # the large one
        areas = [(f["bbox"][2] - f["bbox"][0]) * (f["bbox"][3] - f["bbox"][1]) for f in body["faces"]]
        assert areas == sorted(areas, reverse=True)
    george = embedding(detect_file(client, "/detect", PORTRAIT.read_bytes()).json()["faces"][0])
    assert float(np.asarray(body["embedding"], dtype=np.float32) @ george) > 0.6

    blank = as_bytes(Image.new("RGB", (400, 300), (90, 120, 150)), "PNG")
    r = detect_file(client, "/extract-embedding", blank, "blank.png", "image/png")
    assert r.status_code == 422 and "no face" in r.json()["detail"]
    assert detect_json(client, "/extract-embedding", blank).status_code == 422
    r = detect_file(client, "/detect", blank, "blank.png", "image/png")
    assert r.status_code == 200 and r.json()["faces"] == []  # /detect: none found is an answer


def make_png(width: int, height: int) -> bytes:
    return as_bytes(Image.new("L", (width, height), 0), "PNG", optimize=True)


def bad_photos() -> list:
    truncated = PORTRAIT.read_bytes()[:4000] if PORTRAIT.exists() else b"\xff\xd8\xff"
    return [
        ("text", b"just some text, not a photo", 400, "not a JPEG"),
        ("empty", b"", 400, "empty"),
        ("truncated", truncated, 400, "damaged"),
        ("header only", b"\xff\xd8\xff\xe0" + b"\x00" * 40, 400, "header cannot be read"),
        ("56 megapixels", None, 413, "megapixels"),
        ("over 20 MB", b"\xff\xd8\xff" + b"\x00" * (20 * 1024 * 1024), 413, "larger than 20 MB"),
    ]


@pytest.mark.parametrize("name, content, status, says", bad_photos(), ids=[p[0] for p in bad_photos()])
def test_bad_photos_are_refused_before_the_model(module_migrated_db, name, content, status, says):
    if content is None:
        content = make_png(8000, 7000)

    def no_engine():
        raise AssertionError("the face model must not be reached by a bad photo")

    with TestClient(app(module_migrated_db, engine_factory=no_engine), base_url=BASE) as client:
        for path in ("/detect", "/extract-embedding"):
            for r in (detect_file(client, path, content), detect_json(client, path, content)):
                assert r.status_code == status, r.text
                assert says in r.json()["detail"]


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"content": b""}, "empty"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, "not valid JSON"),
        ({"json": {"image": "abc"}}, '"image_base64"'),
        ({"json": ["image_base64"]}, '"image_base64"'),
        ({"json": {"image_base64": "%%% not base64 %%%"}}, "not valid base64"),
        ({"files": {"photo": ("p.jpg", b"\xff\xd8\xff", "image/jpeg")}}, "no file in"),
        ({"data": {"file": "a text field"}, "files": {"other": ("p.jpg", b"x", "image/jpeg")}}, "no file in"),
        ({"content": b"\xff\xd8\xff", "headers": {"Content-Type": "image/jpeg"}}, "Content-Type"),
    ],
)
def test_malformed_requests_say_how_to_send_a_photo(client, kwargs, says):
    r = client.post("/detect", **kwargs)
    assert r.status_code == 400, r.text
    assert says in r.json()["detail"]


def test_beyond_the_queue_is_503_at_once_and_pages_do_not_wait(module_migrated_db, monkeypatch):
    require_fixtures()
    from face_assets.web.inference import InferenceBusy

    monkeypatch.setenv("FACE_ASSETS_INFERENCE_WORKERS", "1")
    monkeypatch.setenv("FACE_ASSETS_INFERENCE_QUEUE", "1")
    photo = PORTRAIT.read_bytes()
    with TestClient(app(module_migrated_db), base_url=BASE) as client:
        assert detect_file(client, "/detect", photo).status_code == 200  # the model is loaded
        pool = client.app.state.inference
        assert (pool.workers, pool.queue) == (1, 1)

        # Hold the only worker and the only queue place until released.
        started, gate = threading.Event(), threading.Event()

        def hold():
            started.set()
            assert gate.wait(60), "the test never released the held slots"

        held = [pool.submit(hold), pool.submit(gate.wait, 60)]
        assert started.wait(60)
        try:
            with pytest.raises(InferenceBusy):
                pool.submit(lambda: None)
            refused = [
                detect_file(client, "/detect", photo),
                detect_json(client, "/detect", photo),
                detect_file(client, "/extract-embedding", photo),
                client.post(f"{API}/recognize", files={"photo": ("p.jpg", photo, "image/jpeg")}),
            ]
            for r in refused:
                assert r.status_code == 503, r.text
                assert int(r.headers["Retry-After"]) >= 1
                assert "busy" in r.json()["detail"]
            # Pages, review calls and the health check are answered meanwhile.
            assert client.get(f"{API}/stats").status_code == 200
            assert client.get(f"{API}/pending").status_code == 200
            assert client.get("/review").status_code == 200
            health = client.get("/health").json()
            assert health["status"] == "healthy"
            assert health["inference"]["running"] == 1 and health["inference"]["waiting"] == 1
            assert health["inference"]["refused"] >= len(refused) + 1
        finally:
            gate.set()
        for future in held:
            future.result(timeout=60)
        assert detect_file(client, "/detect", photo).status_code == 200  # free again
        r = client.post(f"{API}/recognize", files={"photo": ("p.jpg", photo, "image/jpeg")})
        assert r.status_code == 200, r.text
        assert len(r.json()["faces"]) >= 1


def test_a_slot_is_freed_when_its_work_ends_whatever_the_end():
    from face_assets.web.inference import InferenceBusy, InferenceLimiter

    pool = InferenceLimiter(workers=1, queue=1)
    started, gate = threading.Event(), threading.Event()

    def hold():
        started.set()
        return gate.wait(60)

    def fail():
        raise RuntimeError("the model failed")

    running = pool.submit(hold)
    assert started.wait(60)
    failing = pool.submit(fail)  # waits behind `hold`
    with pytest.raises(InferenceBusy) as refused:
        pool.submit(lambda: None)
    assert refused.value.retry_after >= 1
    gate.set()
    assert running.result(60) is True
    with pytest.raises(RuntimeError):
        failing.result(60)
    assert pool.stats() == {"workers": 1, "queue": 1, "running": 0, "waiting": 0, "refused": 1}
    # Queued work cancelled at shutdown gives its slot back too.
    gate.clear()
    started.clear()
    pool.submit(hold)
    assert started.wait(60)
    queued = pool.submit(lambda: None)
    pool.shutdown()
    gate.set()
    assert queued.cancelled() and pool.stats()["waiting"] == 0


def test_inference_settings(monkeypatch):
    from face_assets import settings

    monkeypatch.delenv("FACE_ASSETS_INFERENCE_WORKERS", raising=False)
    monkeypatch.delenv("FACE_ASSETS_INFERENCE_QUEUE", raising=False)
    assert settings.inference_workers() == settings.cpu_cores()
    assert settings.inference_queue(3) == 6
    monkeypatch.setenv("FACE_ASSETS_INFERENCE_WORKERS", "3")
    monkeypatch.setenv("FACE_ASSETS_INFERENCE_QUEUE", "0")
    assert (settings.inference_workers(), settings.inference_queue(3)) == (3, 0)
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("FACE_ASSETS_INFERENCE_WORKERS", bad)
        with pytest.raises(ValueError, match="FACE_ASSETS_INFERENCE_WORKERS"):
            settings.inference_workers()


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_health_states(module_migrated_db, monkeypatch):
    require_fixtures()
    with TestClient(app(module_migrated_db), base_url=BASE) as client:
        r = client.get("/health")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "healthy" and body["database"] == "ok"
        assert body["model"] == "buffalo_sc" and body["embedding_dimension"] == 512
        assert body["onnx_providers"] == ["CPUExecutionProvider"]
        assert body["version"] and body["uptime_seconds"] >= 0

    # PostgreSQL down (nothing listens there): detection still works, so degraded.
    down = f"postgresql://nobody@127.0.0.1:{unused_port()}/nothing?connect_timeout=2"
    with TestClient(app(down), base_url=BASE) as client:
        body = client.get("/health").json()
        assert body["status"] == "degraded" and body["database"] == "unreachable"
        assert "nobody" not in str(body) and "nothing" not in str(body)  # nothing of the URL
        assert detect_file(client, "/detect", PORTRAIT.read_bytes()).status_code == 200

    # No model: unhealthy, in a 200's body (the legacy client reads the body of a 2xx only), and detection says why.
    monkeypatch.setenv("FACE_ASSETS_MODEL", "no_such_pack")
    with TestClient(app(module_migrated_db), base_url=BASE) as client:
        r = client.get("/health")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "unhealthy" and "no_such_pack" in r.json()["model_error"]
        assert r.json()["embedding_dimension"] == 512 and r.json()["onnx_providers"]
        r = detect_file(client, "/detect", PORTRAIT.read_bytes())
        assert r.status_code == 503 and "cannot be loaded" in r.json()["detail"]


def test_age_and_gender_come_from_the_packs_genderage_model(module_migrated_db, monkeypatch, tmp_path):
    """A pack with a genderage model gives each face's age (int) and gender ("M"/"F"); without one (the plain fixture
    pack, test_detect_in_both_request_forms_gives_the_same_faces) both are null.

    No real genderage model is available offline, so the pack is the fixture pack plus a synthetic one with
    InsightFace's genderage signature (face_assets_tests.engine.test_attributes): this checks the plumbing and the
    pre- and post-processing (the face's box from the detection, InsightFace's crop, the reading of the output), not
    the quality of a real genderage model."""
    require_fixtures()
    from insightface.model_zoo.attribute import Attribute

    from face_assets.engine.face_engine import FaceEngine
    from face_assets.web.uploads import decode_photo
    from face_assets_tests.engine.test_attributes import expected_answer, expected_output, pack_with_genderage

    pack = pack_with_genderage(tmp_path / "buffalo_sc")  # the fixture pack's name: the database's model
    monkeypatch.setenv("FACE_ASSETS_MODEL", str(pack))
    content = PORTRAIT.read_bytes()
    image = decode_photo(content)
    reference = Attribute(model_file=str(pack / "genderage.onnx"))  # InsightFace's own session and preprocessing
    expected = []
    for face in FaceEngine().detect([image])[0]:

        class Face(dict):
            bbox = np.asarray(face.bbox, dtype=np.float32)

        gender, age = reference.get(image, Face())
        expected.append((age, "FM"[gender]))
        assert expected[-1] == expected_answer(expected_output(image, face.bbox))
    assert expected

    with TestClient(app(module_migrated_db), base_url=BASE) as client:
        for r in (detect_file(client, "/detect", content), detect_json(client, "/detect", content)):
            assert r.status_code == 200, r.text
            faces = r.json()["faces"]
            assert [(f["age"], f["gender"]) for f in faces] == expected
            assert all(isinstance(f["age"], int) and f["gender"] in ("M", "F") for f in faces)
        r = detect_file(client, "/extract-embedding", content)
        assert r.status_code == 200, r.text
        assert (r.json()["faces"][0]["age"], r.json()["faces"][0]["gender"]) in expected
        assert client.get("/health").json()["status"] == "healthy"


def test_the_token_and_loopback_rules_apply(module_migrated_db):
    token = "s3cret-face-service"
    with TestClient(app(module_migrated_db, host="0.0.0.0", token=token), base_url="http://10.1.2.3:3001") as client:
        r = client.get("/health", follow_redirects=False)
        assert r.status_code == 401 and token not in r.text  # JSON for a client, never the login page
        assert client.post("/detect", files={"file": ("p.jpg", b"x", "image/jpeg")}).status_code == 401
        assert client.get("/health", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with TestClient(app(module_migrated_db), base_url="http://evil.example:3001") as client:
        assert client.get("/health").status_code == 403


def test_the_contract_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/detect"]["post"]["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert "post" in paths["/extract-embedding"] and "get" in paths["/health"]


def test_nothing_is_written(client, module_migrated_db):
    import psycopg

    from face_assets.recognition.embeddings import reference_root

    def state() -> tuple:
        with psycopg.connect(module_migrated_db) as conn:
            rows = conn.execute(
                "SELECT (SELECT count(*) FROM video_face_detections), (SELECT count(*) FROM creator_face_embeddings),"
                " (SELECT count(*) FROM video_creators)"
            ).fetchone()
        root = reference_root()
        return rows, sorted(str(p) for p in root.rglob("*")) if root.exists() else []

    require_fixtures()
    before = state()
    for path in ("/detect", "/extract-embedding"):
        assert detect_file(client, path, PORTRAIT.read_bytes()).status_code == 200
    assert state() == before
