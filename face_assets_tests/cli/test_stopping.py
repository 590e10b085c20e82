"""`face-assets serve` and `face-assets dev` stop within 10 s of SIGTERM or Ctrl-C, in every state, leaving nothing.

The contract is Docker's and Kubernetes' grace period: 10 s after SIGTERM comes SIGKILL, which would leave the
children behind. So each test brings the command into a state (everything up; the embedded PostgreSQL stopped
underneath; a request or a run in progress waiting in the database), sends the signal (SIGTERM as a service manager
does, or SIGINT to the command's process group as Ctrl-C in a terminal does), and waits for the command to exit
with 10 s as the limit; right after, no process of its session or with its FACE_ASSETS_HOME may remain (the
embedded PostgreSQL is meant to outlive it, and does). A run in progress ends up failed, never STARTED.

The commands run as a user starts them: their own FACE_ASSETS_HOME, the embedded PostgreSQL they start themselves
(the fixture legacy database migrated into it, so pages and jobs have their tables), the fixture model.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import requests

from face_assets_tests.conftest import require_fixtures
from face_assets_tests.e2e.servers import BIN, Servers, base_env, free_port, run_cli, wait_for

STOP_LIMIT_SECONDS = 10  # the contract: Docker's default grace period
START_TIMEOUT_SECONDS = 300  # dagster dev loading the code location on a busy machine
CTRL_C = "Ctrl-C"


@pytest.fixture(scope="module")
def home():
    """A FACE_ASSETS_HOME with its embedded PostgreSQL (started, the fixture legacy database migrated into it)."""
    require_fixtures()
    base = Path(tempfile.mkdtemp(prefix="face_assets_stop_", dir="/tmp"))
    base.chmod(0o755)  # the embedded PostgreSQL runs as its own system user when the tests run as root
    (base / "logs").mkdir()
    env = base_env(FACE_ASSETS_HOME=str(base / "home"))
    try:
        url = run_cli(["db", "start"], env, base / "logs" / "db.log").stdout.strip().splitlines()[-1]
        from face_assets_tests.conftest import migrate_fixture_legacy_db

        migrate_fixture_legacy_db(url)
        yield {"base": base, "env": env, "url": url}
    finally:
        run_cli(["db", "stop"], env, base / "logs" / "db.log", check=False)
        shutil.rmtree(base, ignore_errors=True)


def _database(home, running: bool) -> None:
    run_cli(["db", "start" if running else "stop"], home["env"], home["base"] / "logs" / "db.log")


def _start(home, name: str, args: list[str]) -> subprocess.Popen:
    log = (home["base"] / "logs" / f"{name}.log").open("w")
    # A session of its own, as a terminal gives a command: Ctrl-C goes to its process group.
    return subprocess.Popen(
        [str(BIN / "face-assets"), *args],
        env=home["env"],
        cwd=home["base"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _log(home, name: str) -> str:
    return (home["base"] / "logs" / f"{name}.log").read_text(errors="replace")[-4000:]


def _ready(port: int) -> int:
    return requests.get(f"http://127.0.0.1:{port}/ready", timeout=10).status_code


def _left_behind(leader: int, home) -> list[str]:
    """Processes still running (zombies excepted) in the command's session or with its FACE_ASSETS_HOME, other
    than the embedded PostgreSQL."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "name", "username", "status", "cmdline"]):
        info = process.info
        if (
            process.pid == os.getpid()
            or info["status"] == psutil.STATUS_ZOMBIE
            or info["name"] in ("postgres", "pg_ctl")
            or info["username"] == "pgserver"
        ):
            continue
        try:
            same_session = os.getsid(process.pid) == leader
            same_home = process.environ().get("FACE_ASSETS_HOME") == home["env"]["FACE_ASSETS_HOME"]
        except (ProcessLookupError, psutil.Error):
            continue
        if same_session or same_home:
            found.append(f"{process.pid} {info['name']}: {' '.join(info['cmdline'] or [])[:160]}")
    return found


def _stop_and_check(home, proc: subprocess.Popen, how: str, name: str) -> None:
    """Send the signal; the command must exit within STOP_LIMIT_SECONDS and leave nothing behind."""
    assert proc.poll() is None, f"{name} exited before it was stopped:\n{_log(home, name)}"
    if how == CTRL_C:
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole foreground process group
    else:
        proc.send_signal(signal.SIGTERM)  # what a service manager does: the main process only
    sent = time.monotonic()
    try:
        proc.wait(timeout=STOP_LIMIT_SECONDS)
        print(f"{name}: exited {time.monotonic() - sent:.1f} s after {how}")  # shown with -s
    except subprocess.TimeoutExpired:
        left = _left_behind(proc.pid, home)
        os.killpg(proc.pid, signal.SIGKILL)
        for line in left:
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        pytest.fail(f"{name} still running {STOP_LIMIT_SECONDS} s after {how}:\n{_log(home, name)}")
    left = _left_behind(proc.pid, home)
    if left:
        for line in left:
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not left, f"{name} exited after {how} but left processes behind: {left}\n{_log(home, name)}"


def _waiting_on_a_lock(url: str, application: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return bool(
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s AND wait_event_type = 'Lock'",
                (application,),
            ).fetchone()[0]
        )


# --- face-assets serve ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, how",
    [("database up", CTRL_C), ("database stopped underneath", "SIGTERM"), ("a request waiting on a lock", "SIGTERM")],
)
def test_serve_stops_within_10_s(home, state, how):
    _database(home, running=True)
    port = free_port()
    name = f"serve-{state.replace(' ', '-')}"
    proc = _start(home, name, ["serve", "--port", str(port)])
    blocker = None
    try:
        wait_for(
            lambda: proc.poll() is None and _ready(port) == 200,
            START_TIMEOUT_SECONDS,
            "the review app ready",
            interval=0.5,
            on_timeout=lambda: _log(home, name),
        )
        if state == "database stopped underneath":
            _database(home, running=False)
            assert wait_for(lambda: _ready(port) == 503, 60, "/ready saying the database is down", interval=0.5)
        elif state == "a request waiting on a lock":
            blocker = psycopg.connect(home["url"])
            blocker.execute("LOCK TABLE creators IN ACCESS EXCLUSIVE MODE")  # every page reads creators

            def stats():
                try:
                    requests.get(f"http://127.0.0.1:{port}/api/face-recognition/stats", timeout=60)
                except requests.RequestException:
                    pass  # the server went away under it: expected

            import threading

            threading.Thread(target=stats, daemon=True).start()
            wait_for(
                lambda: _waiting_on_a_lock(home["url"], "face_assets_web"), 60, "the request waiting", interval=0.2
            )
        _stop_and_check(home, proc, how, name)
    finally:
        if blocker is not None:
            blocker.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _database(home, running=True)


# --- face-assets dev ------------------------------------------------------------------------------------------


def _run_status(home, run_id: str) -> str:
    from face_assets.db.embedded_postgres import with_database

    with psycopg.connect(with_database(home["url"], "dagster"), autocommit=True) as conn:
        return conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,)).fetchone()[0]


def _monitor_runs(home, monkeypatch) -> None:
    """One pass of Dagster's run monitoring over the home's runs, as the daemon does when `face-assets dev` starts
    again (face_assets.db.run_launcher tells it which workers are gone)."""
    import logging

    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run
    from sqlalchemy.engine import make_url

    from face_assets.db.embedded_postgres import with_database

    storage = make_url(with_database(home["url"], "dagster")).set(drivername="postgresql+psycopg2")
    monkeypatch.setenv("DAGSTER_HOME", str(Path(home["env"]["FACE_ASSETS_HOME"]) / "dagster"))
    monkeypatch.setenv("FACE_ASSETS_DAGSTER_DATABASE_URL", storage.render_as_string(hide_password=False))
    with DagsterInstance.get() as instance:
        for record in instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
            monitor_started_run(instance, None, record, logging.getLogger("run monitoring"))


@pytest.mark.e2e
@pytest.mark.parametrize("state, how", [("a run in progress", CTRL_C), ("database stopped underneath", "SIGTERM")])
def test_dev_stops_within_10_s_and_no_run_stays_started(home, state, how, monkeypatch):
    _database(home, running=True)
    port, review_port = free_port(), free_port()
    name = f"dev-{state.replace(' ', '-')}"
    proc = _start(home, name, ["dev", "--port", str(port), "--review-port", str(review_port)])
    ui = Servers(base=home["base"], env=home["env"], port=port, app_home=home["base"])  # its GraphQL helpers
    blocker, run_id = None, None
    try:
        for what, ready in (
            ("the Dagster UI with the code location", ui._location_loaded),
            ("the daemons heartbeating", ui._daemons_healthy),
            ("the review app ready", lambda: _ready(review_port) == 200),
        ):
            wait_for(
                lambda ready=ready: proc.poll() is None and ready(),
                START_TIMEOUT_SECONDS,
                what,
                interval=1,
                on_timeout=lambda: _log(home, name),
            )
        if state == "a run in progress":
            from face_assets_tests.e2e import dagster_api as api

            blocker = psycopg.connect(home["url"])
            blocker.execute("LOCK TABLE creator_face_embeddings, face_recognition_config IN ACCESS EXCLUSIVE MODE")
            run_id = api.launch_run(ui, "rematch_job")
            wait_for(
                # Started, and waiting: a sensor tick may wait on the same lock while the run is still queued.
                lambda: _run_status(home, run_id) == "STARTED" and _waiting_on_a_lock(home["url"], "face_assets%"),
                START_TIMEOUT_SECONDS,
                "the rematch run waiting in the database",
                interval=0.5,
                on_timeout=lambda: _log(home, name),
            )
        else:
            _database(home, running=False)
            wait_for(lambda: _ready(review_port) == 503, 60, "/ready saying the database is down", interval=0.5)
        _stop_and_check(home, proc, how, name)
    finally:
        if blocker is not None:
            blocker.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _database(home, running=True)
    if run_id:
        # Its worker got Ctrl-C and said so, or was killed first: then run monitoring marks it failed.
        if _run_status(home, run_id) == "STARTED":
            _monitor_runs(home, monkeypatch)
        assert _run_status(home, run_id) in ("FAILURE", "CANCELED"), _run_status(home, run_id)
