"""Exposure: what listens where, and whether the database password shows up anywhere Dagster writes or shows.

The shared servers run with URLs that carry a password (roles that must log in with it, servers.py), so after the
end-to-end and fault runs, every place a password could leak to is searched for it: dagster.yaml, the servers'
logs and compute logs, every row of Dagster's storage (compressed snapshots included), the application database,
and what the UI shows (resource configuration, run configuration, asset metadata through GraphQL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import zlib
from pathlib import Path

import psutil
import psycopg
import pytest

from face_assets_tests.e2e.servers import BIN, REPO, base_env, free_port, kill_leftovers, wait_for

pytestmark = pytest.mark.e2e


def _listening(pids: set[int]) -> list[tuple[str, int, int]]:
    """(address, port, pid) of every listening TCP socket of the processes `pids`."""
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            found.append((conn.laddr.ip, conn.laddr.port, conn.pid))
    return found


def _tree(pid: int) -> set[int]:
    try:
        root = psutil.Process(pid)
        return {pid, *(p.pid for p in root.children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


def test_the_servers_listen_on_loopback_only(servers):
    pids = set().union(*(_tree(p.pid) for p in servers.processes.values())) if servers.processes else set()
    if not pids:  # attached to servers started elsewhere: find them by their home
        pids = {p.pid for p in psutil.process_iter() if _home_of(p) == str(servers.home)}
    sockets = _listening(pids)
    assert any(port == servers.port for _, port, _ in sockets), sockets
    assert {addr for addr, _, _ in sockets} <= {"127.0.0.1", "::1"}, sockets


def _home_of(proc) -> str | None:
    try:
        return proc.environ().get("FACE_ASSETS_HOME")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def test_face_assets_dev_binds_127_0_0_1_unless_told_otherwise(servers, tmp_path):
    # Its own empty databases on the storage server: its daemon must not tick the shared instance's sensors.
    from face_assets.db.embedded_postgres import ensure_database, with_database

    storage = servers.dagster_url
    port = free_port()
    env = base_env(
        FACE_ASSETS_HOME=str(tmp_path / "home"),
        DATABASE_URL=ensure_database(with_database(_superuser(storage), "dev_app")),
        FACE_ASSETS_DAGSTER_DATABASE_URL=ensure_database(with_database(_superuser(storage), "dev_dagster")),
    )
    log = (tmp_path / "dev.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "face-assets"), "dev", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def webserver_socket():
            if proc.poll() is not None:
                raise AssertionError(
                    f"face-assets dev exited ({proc.returncode}): {(tmp_path / 'dev.log').read_text()[-3000:]}"
                )
            return [s for s in _listening(_tree(proc.pid)) if s[1] == port]

        sockets = wait_for(webserver_socket, 240, f"face-assets dev listening on port {port}", interval=1)
        assert {addr for addr, _, _ in sockets} == {"127.0.0.1"}, sockets
        assert all(addr in ("127.0.0.1", "::1") for addr, _, _ in _listening(_tree(proc.pid))), _listening(
            _tree(proc.pid)
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything of the group still there
        except ProcessLookupError:
            pass
    time.sleep(0.5)
    assert not kill_leftovers(tmp_path / "home"), "face-assets dev left processes behind"


def _superuser(url: str) -> str:
    """The same server as `url`, as the embedded server's superuser (trusted locally)."""
    from sqlalchemy.engine import make_url

    return (
        make_url(url)
        .set(username="postgres", password=None, drivername="postgresql")
        .render_as_string(hide_password=False)
    )


# --- secrets ----------------------------------------------------------------------------------------------------


def _text_of(value) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            data = zlib.decompress(data)  # Dagster stores snapshots zlib-compressed
        except zlib.error:
            pass
        return data.decode("utf-8", "replace")
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _rows_with(url: str, secret: str) -> list[str]:
    """'table.column' for every text-like column of every table in `url` that holds `secret`."""
    hits = []
    with psycopg.connect(url, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND data_type IN ('text', 'character varying', 'bytea', 'json', 'jsonb')"
        ).fetchall()
        for schema, table, column in columns:
            query = f'SELECT "{column}" FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL'
            if any(secret in _text_of(value) for (value,) in conn.execute(query)):
                hits.append(f"{table}.{column}")
    return hits


def _files_with(root: Path, secret: str, skip: tuple[str, ...]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if not path.is_file() or any(part in skip for part in path.relative_to(root).parts):
            continue
        try:
            if secret.encode() in path.read_bytes():
                hits.append(str(path.relative_to(root)))
        except OSError:
            continue
    return hits


GRAPHQL_EXPOSURE = """
query Exposure {
  repositoryOrError(repositorySelector: {repositoryLocationName: "face_assets", repositoryName: "__repository__"}) {
    ... on Repository {
      allTopLevelResourceDetails { name configuredValues { key value type } }
      jobs { name runs(limit: 20) { runConfigYaml tags { key value } } }
    }
  }
  assetNodes { assetKey { path } assetMaterializations(limit: 5) { metadataEntries { label description
    ... on TextMetadataEntry { text } ... on PathMetadataEntry { path } ... on JsonMetadataEntry { jsonString }
    ... on MarkdownMetadataEntry { mdStr } ... on UrlMetadataEntry { url } } } }
}
"""


def test_the_database_password_appears_in_no_config_log_metadata_or_ui(servers):
    secret = servers.secret
    assert secret and secret in servers.app_url and secret in servers.env["FACE_ASSETS_DAGSTER_DATABASE_URL"]
    # Something to look at: the setup run, the sensor's runs and every earlier test ran with these URLs.
    from face_assets_tests.e2e.scenario import ensure_videos_processed

    ensure_videos_processed(servers)
    leaks: dict[str, list[str]] = {}

    yaml_files = [REPO / "dagster.yaml", servers.dagster_home / "dagster.yaml"]
    leaks["dagster.yaml"] = [str(p) for p in yaml_files if secret in p.read_text()]
    # Everything the servers wrote: their logs, DAGSTER_HOME (compute logs, local artifacts), frames, crops.
    # The embedded servers' own data folders are the database itself (searched row by row below).
    leaks["files"] = _files_with(servers.base, secret, skip=("pg",))
    leaks["dagster storage"] = _rows_with(servers.dagster_url, secret)
    leaks["application database"] = _rows_with(servers.app_url, secret)
    exposure = json.dumps(servers.graphql(GRAPHQL_EXPOSURE))
    leaks["UI (GraphQL)"] = ["resource/run config or metadata"] if secret in exposure else []

    found = {where: hits for where, hits in leaks.items() if hits}
    assert not found, (
        f"the database password is exposed in {found}. The resource config is the usual source: "
        "Definitions(resources={'database': PostgresResource(url=settings.database_url())}) bakes DATABASE_URL into "
        "the config schema's default, which Dagster stores in its job snapshots and shows on the resource page; "
        "PostgresResource() (no url) resolves DATABASE_URL at run time instead."
    )


def test_face_assets_dev_passes_the_loopback_address(monkeypatch, tmp_path):
    """The argvs `face-assets dev` hands to `dagster dev` and to the review app beside it (no server started)."""
    import subprocess

    from face_assets.cli import main as cli

    calls = []

    class Started:  # stands in for the child processes: records the command, "exits" at once
        def __init__(self, argv, **kwargs):
            calls.append(list(argv))

        def wait(self, timeout=None):
            return 0

        def poll(self):
            return 0

        def terminate(self):
            pass

    monkeypatch.setattr(subprocess, "Popen", Started)
    # Stopping (tested in cli/test_stopping.py) signals the children's process groups, which these have not, sets
    # this process's signal handlers and ends it with os._exit: none of that in the test's process.
    monkeypatch.setattr("face_assets.cli.processes.stop_groups", lambda children, **kw: "stopped")
    monkeypatch.setattr("face_assets.cli.processes.ignore_stop_signals", lambda: None)
    monkeypatch.setattr("signal.signal", lambda *a: None)

    def exit_now(status):
        raise SystemExit(status)

    monkeypatch.setattr("face_assets.cli.processes.exit_now", exit_now)
    monkeypatch.setattr("face_assets.db.instance.prepare", lambda: tmp_path)
    monkeypatch.setattr("face_assets.cli.preflight.check_or_exit", lambda *a, **k: None)  # tested in test_preflight
    for argv in (["dev"], ["dev", "--host", "0.0.0.0", "--port", "3100", "--review-port", "3101"]):
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 0  # what `dagster dev` exited with
    review, dagster, review2, dagster2 = calls
    assert dagster[1] == "dev" and dagster[dagster.index("-h") + 1] == "127.0.0.1"
    assert dagster[dagster.index("-p") + 1] == "3000"
    assert review[review.index("serve") + 1 :] == [
        "--host",
        "127.0.0.1",
        "--port",
        "3001",
        "--dagster-ui",
        "http://127.0.0.1:3000",
    ]
    assert dagster2[dagster2.index("-h") + 1] == "0.0.0.0" and dagster2[dagster2.index("-p") + 1] == "3100"
    assert review2[review2.index("--host") + 1] == "0.0.0.0" and review2[review2.index("--port") + 1] == "3101"
