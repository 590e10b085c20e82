"""The review app's safety rules: cross-origin writes, the token, loopback only, uploads, PostgreSQL down."""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from face_assets_tests.web.seed import seed

BASE = "http://127.0.0.1:3001"
API = "/api/face-recognition"


@pytest.fixture
def seeded(migrated_db):
    return migrated_db, seed(migrated_db, videos=2, clusters=1)


def app(url: str, **kwargs):
    from face_assets.web.app import create_app

    return create_app(database_url=url, **kwargs)


def status_of(url: str, face: int) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT match_status FROM video_face_detections WHERE id = %s", (face,)).fetchone()[0]


def test_cross_origin_writes_are_refused(seeded):
    url, data = seeded
    face, other, third = data.pending[:3]
    with TestClient(app(url), base_url=BASE) as client:
        r = client.post(f"{API}/confirm/{face}", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
        r = client.post(f"{API}/confirm/{face}", headers={"Referer": "http://evil.example/page"})
        assert r.status_code == 403
        r = client.patch(f"{API}/config", json={"frames_per_video": 9}, headers={"Origin": "null"})
        assert r.status_code == 403
        assert status_of(url, face) == "pending"
        # The app's own pages, and clients that send neither header (the legacy backend, curl), may write.
        assert client.post(f"{API}/confirm/{face}", headers={"Origin": BASE}).status_code == 200
        assert client.post(f"{API}/confirm/{other}", headers={"Referer": f"{BASE}/review"}).status_code == 200
        assert client.post(f"{API}/confirm/{third}").status_code == 200
        # Reading is not a write: a GET with a foreign Origin is answered.
        assert client.get(f"{API}/stats", headers={"Origin": "http://evil.example"}).status_code == 200


def test_only_loopback_host_names_without_a_token(seeded):
    url, _ = seeded
    with TestClient(app(url), base_url="http://evil.example:3001") as client:  # a DNS-rebinding page
        assert client.get(f"{API}/stats").status_code == 403
    with TestClient(app(url), base_url="http://localhost:3001") as client:
        assert client.get(f"{API}/stats").status_code == 200


def test_a_non_loopback_host_needs_a_token(seeded, monkeypatch, capsys):
    from face_assets.cli import main as cli
    from face_assets.settings import UnsafeBinding

    url, _ = seeded
    monkeypatch.delenv("FACE_ASSETS_WEB_TOKEN", raising=False)
    with pytest.raises(UnsafeBinding):
        app(url, host="0.0.0.0")
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "3999"]) == 2
    assert "FACE_ASSETS_WEB_TOKEN" in capsys.readouterr().err
    app(url, host="0.0.0.0", token="s3cret-token")  # with a token: allowed


def test_with_a_token_every_call_needs_it(seeded):
    url, data = seeded
    token = "s3cret-token-value"
    with TestClient(app(url, host="0.0.0.0", token=token), base_url="http://10.1.2.3:3001") as client:
        r = client.get(f"{API}/stats")
        assert r.status_code == 401 and token not in r.text
        assert client.get(f"{API}/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(f"{API}/stats", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get(f"/images/detection/{data.pending[0]}.jpg").status_code == 401
        page = client.get("/review", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert client.post("/login", data={"token": "wrong", "next": "/"}, follow_redirects=False).status_code == 401
        r = client.post("/login", data={"token": token, "next": "//evil.example/"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"  # never off-site
        cookie = r.cookies.get("face_assets_session")
        assert cookie and token not in cookie and "httponly" in r.headers["set-cookie"].lower()
        assert client.get(f"{API}/stats").status_code == 200  # the cookie now


def make_png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (width, height), 0).save(out, "PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize(
    "name, content, status, says",
    [
        ("notes.jpg", b"just some text, not a photo", 400, "not a JPEG"),
        ("empty.jpg", b"", 400, "empty"),
        ("truncated.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 40, 400, "header cannot be read"),
        ("huge.png", None, 413, "megapixels"),
        ("big.jpg", b"\xff\xd8\xff" + b"\x00" * (20 * 1024 * 1024), 413, "larger than 20 MB"),
    ],
)
def test_bad_uploads_are_refused_before_decoding(seeded, name, content, status, says):
    url, data = seeded
    if content is None:
        content = make_png(8000, 7000)  # 56 megapixels in a few hundred KB

    def no_engine():
        raise AssertionError("the face engine must not be reached by a bad upload")

    with TestClient(app(url, engine_factory=no_engine), base_url=BASE) as client:
        for path in ("recognize", f"creator/{data.creators['Api Alpha']}/references"):
            r = client.post(f"{API}/{path}", files={"photo": (name, content, "image/jpeg")})
            assert r.status_code == status, r.text
            assert says in r.json()["detail"]


def test_exif_orientation_is_applied():
    from PIL import Image

    from face_assets.web.uploads import decode_photo

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    out = io.BytesIO()
    Image.new("RGB", (300, 100), (10, 20, 30)).save(out, "JPEG", exif=exif)
    assert decode_photo(out.getvalue()).shape[:2] == (300, 100)  # upright: 100 wide, 300 high


class Proxy:
    """A TCP port forwarding to the embedded server's Unix socket that can be taken down and brought back: the
    database "restarts" for the app without disturbing the other tests' server."""

    def __init__(self, socket_path: str):
        self.socket_path = socket_path
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener = None
        self.conns: list[socket.socket] = []

    def up(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        except OSError:
            pass
        self.listener.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self.conns.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.socket_path)
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def test_postgresql_down_is_a_503_and_the_app_recovers(seeded):
    url, _ = seeded
    info = psycopg.conninfo.conninfo_to_dict(url)
    proxy = Proxy(str(Path(info["host"]) / f".s.PGSQL.{info.get('port', 5432)}"))
    proxied = f"postgresql://{info['user']}@127.0.0.1:{proxy.port}/{info['dbname']}?sslmode=disable"
    proxy.up()
    try:
        with TestClient(app(proxied), base_url=BASE) as client:
            assert client.get(f"{API}/stats").status_code == 200
            proxy.down()
            r = client.get(f"{API}/stats")
            assert r.status_code == 503 and "not reachable" in r.json()["detail"]
            assert str(proxy.port) not in r.text and info["dbname"] not in r.text  # nothing of the URL
            page = client.get("/", headers={"Accept": "text/html"})
            assert page.status_code == 503 and "<h1>" in page.text
            proxy.up()
            assert client.get(f"{API}/stats").status_code == 200  # by itself, no restart of the app
    finally:
        proxy.down()


def test_a_real_server_over_http(seeded):
    """uvicorn on 127.0.0.1, as `face-assets serve` runs it."""
    import uvicorn

    url, data = seeded
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = uvicorn.Server(uvicorn.Config(app(url), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}{API}/stats").json()["matches_awaiting_review"] == len(data.pending)
        face = data.pending[0]
        assert httpx.post(f"{base}{API}/confirm/{face}", headers={"Origin": "http://evil.example"}).status_code == 403
        assert httpx.post(f"{base}{API}/confirm/{face}", headers={"Origin": base}).status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["paths"].get(f"{API}/pending")
    finally:
        server.should_exit = True
        thread.join(10)
