"""The review app's probes (face_assets.web.probes): /ready follows the database, /live does not, neither needs the
token. The database goes away through the same TCP proxy as test_app_safety's outage test (a real lost server for
the app, the other tests' server untouched)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from face_assets_tests.web.test_app_safety import BASE, Proxy, app


def test_ready_is_200_only_while_the_database_answers_and_live_always(fresh_db):
    info = psycopg.conninfo.conninfo_to_dict(fresh_db)
    proxy = Proxy(str(Path(info["host"]) / f".s.PGSQL.{info.get('port', 5432)}"))
    proxied = f"postgresql://{info['user']}@127.0.0.1:{proxy.port}/{info['dbname']}?sslmode=disable"
    proxy.up()
    try:
        with TestClient(app(proxied), base_url=BASE) as client:
            ready = client.get("/ready")
            assert ready.status_code == 200 and ready.json() == {"status": "ready", "database": "reachable"}
            proxy.down()
            ready = client.get("/ready")
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
            assert ready.headers["Retry-After"]
            assert str(proxy.port) not in ready.text and info["dbname"] not in ready.text  # nothing of the URL
            assert client.get("/live").status_code == 200  # a database outage is no reason to restart the app
            proxy.up()
            assert client.get("/ready").status_code == 200  # back by itself
    finally:
        proxy.down()


def test_the_probes_need_no_token_and_tell_nothing_more(fresh_db):
    with TestClient(app(fresh_db, token="s3cret", host="0.0.0.0"), base_url="http://10.0.0.7:3001") as client:
        assert client.get("/ready").status_code == 200
        assert client.get("/live").json() == {"status": "alive"}
        # Everything else still needs it, including paths that merely start like a probe.
        assert client.get("/api/face-recognition/stats").status_code == 401
        assert client.get("/ready/x", follow_redirects=False).status_code == 303  # to the login form
        assert client.get("/readyz", follow_redirects=False).status_code == 303
