"""The real servers for the end-to-end and fault tests: `dagster-webserver` + `dagster-daemon run` as subprocesses.

Layout of one session (everything under a fresh folder in /tmp, removed afterwards):

    <base>/home        FACE_ASSETS_HOME: DAGSTER_HOME (dagster.yaml copied by face_assets.db.instance.prepare()),
                       frames, crops, previews, and home/pg: the embedded PostgreSQL holding Dagster's storage
    <base>/app-home    a second FACE_ASSETS_HOME whose embedded PostgreSQL (app-home/pg) is the APPLICATION database
                       (DATABASE_URL): a fault test stops and restarts it while Dagster's storage, the daemon and
                       the run queue stay up, as they would with a separate database server
    <base>/library     FACE_ASSETS_LIBRARY: the library root the sensor watches (empty at start)
    <base>/logs        stdout/stderr of every process started here

Both embedded servers are started with the project's own `face-assets db start` (face_assets.db.embedded_postgres), the
instance environment comes from face_assets.db.instance.prepare(), and the code location is the project's
workspace.yaml. Both database URLs carry a password (login roles that need it, `password_role`), so the secrets test
can look for it everywhere. Before the daemon starts, `face-assets run` materializes the migration, the face schema
and the creator embeddings, so the sensor finds its tables (the webserver, which runs nothing, loads the code
location meanwhile); the legacy `watched_directories` root (the fixture library, via FACE_ASSETS_PATH_MAP) is then
switched off so the sensor sees only <base>/library, whose content the tests control.

One set of servers is shared by every test that asks for it (fixture `servers` in e2e/ and faults/conftest.py) and
is stopped after the last test that needs it (`release_unless_needed`), so later tests never run beside a daemon.
Stopping kills both process groups (run workers and step processes are in them) and then any process left with this
session's FACE_ASSETS_HOME, and reports those leftovers as an error. The logs are kept in .test_output/e2e/logs.

Working on these tests: `python -m face_assets_tests.e2e.servers FILE` starts a set and keeps it;
FACE_ASSETS_E2E_ATTACH=FILE makes the tests use it instead of starting their own.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures"
LEGACY_DB = FIXTURES / "legacy" / "video_library.db"
FIXTURE_LIBRARY = FIXTURES / "library"
WORKSPACE = REPO / "workspace.yaml"
BIN = Path(sys.executable).parent
LOCATION = "face_assets"
REPOSITORY = "__repository__"

SENSOR_INTERVAL_SECONDS = 5
AUTOMATION_CRON = "* * * * *"
START_TIMEOUT_SECONDS = 180
# The daemons the tests rely on (the scheduler, the sensor daemon, the run queue, the backfill daemon).
REQUIRED_DAEMONS = ("SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "BACKFILL")
# The assets materialized before the servers start: what the sensor and the video runs read.
SETUP_ASSETS = ("face_schema", "creator_embeddings")

# Variables of the test process that must not leak into the servers (each session sets its own).
_SCRUBBED = (
    "DATABASE_URL",
    "FACE_ASSETS_DAGSTER_DATABASE_URL",
    "DAGSTER_HOME",
    "FACE_ASSETS_LIBRARY",
    "FACE_ASSETS_LEGACY_DB",
    "FACE_ASSETS_PATH_MAP",
    "FACE_ASSETS_HOME",
)


class ServersError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    """The test process's environment without the instance variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("PYTEST_")}
    env.setdefault("FACE_ASSETS_MODEL", "buffalo_sc")
    env.setdefault("FACE_ASSETS_MODEL_ROOT", str(FIXTURES))
    env.setdefault("FACE_ASSETS_PROVIDERS", "CPUExecutionProvider")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra)
    return env


def run_cli(
    args: list[str],
    env: dict[str, str],
    log: Path,
    timeout: float = 600,
    cwd: Path | None = None,
    check: bool = True,
    log_output: bool = True,
) -> subprocess.CompletedProcess:
    """Run `face-assets ARGS` (or another venv command when args[0] is a path), output appended to `log`.

    The output is what the project printed, kept as it is (the secrets test reads these logs too); `log_output=False`
    for this harness's own helpers whose output holds the URLs."""
    argv = args if os.path.sep in args[0] else [str(BIN / "face-assets"), *args]
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=cwd or log.parent, capture_output=True, text=True, timeout=timeout)
    shown = argv if log_output else [*argv[:2], "..."]
    with log.open("a") as f:
        f.write(f"$ {' '.join(shown)}  (exit {proc.returncode}, {time.monotonic() - start:.1f} s)\n")
        if log_output or proc.returncode != 0:
            f.write(proc.stdout + proc.stderr + "\n")
    if check and proc.returncode != 0:
        raise ServersError(
            f"{' '.join(shown)} failed with exit code {proc.returncode}:\n{(proc.stdout + proc.stderr)[-4000:]}"
        )
    return proc


def prepared_environment(env: dict[str, str], log: Path) -> dict[str, str]:
    """face_assets.db.instance.prepare() in a subprocess with `env`; the variables it exported."""
    code = (
        "import json, os\n"
        "from face_assets.db import instance\n"
        "instance.prepare()\n"
        "print(json.dumps({k: os.environ[k] for k in ('DAGSTER_HOME', 'DATABASE_URL', "
        "'FACE_ASSETS_DAGSTER_DATABASE_URL', 'FACE_ASSETS_HOME')}))\n"
    )
    proc = run_cli([sys.executable, "-c", code], env, log, log_output=False)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wait_for(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 1.0,
    on_timeout: Callable[[], str] | None = None,
) -> Any:
    """Poll `condition` until it returns something truthy; its value. Raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except (requests.RequestException, psycopg.OperationalError, ServersError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            extra = f"\n{on_timeout()}" if on_timeout else ""
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s{detail}{extra}")
        time.sleep(interval)


@dataclass
class Servers:
    base: Path
    env: dict[str, str]  # the servers' environment (prepared: DAGSTER_HOME, DATABASE_URL, storage URL, ...)
    port: int
    app_home: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    secret: str = ""  # the password in DATABASE_URL and the storage URL
    _started: float = 0.0

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {
                    "base": str(self.base),
                    "env": self.env,
                    "port": self.port,
                    "app_home": str(self.app_home),
                    "timings": self.timings,
                    "secret": self.secret,
                }
            )
        )

    @classmethod
    def load(cls, path: Path) -> Servers:
        data = json.loads(path.read_text())
        return cls(
            base=Path(data["base"]),
            env=data["env"],
            port=data["port"],
            app_home=Path(data["app_home"]),
            timings=data["timings"],
            secret=data.get("secret", ""),
        )

    # --- locations ---------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return Path(self.env["FACE_ASSETS_HOME"])

    @property
    def dagster_home(self) -> Path:
        return Path(self.env["DAGSTER_HOME"])

    @property
    def library(self) -> Path:
        return Path(self.env["FACE_ASSETS_LIBRARY"])

    @property
    def logs(self) -> Path:
        return self.base / "logs"

    @property
    def app_url(self) -> str:
        """The application database (psycopg URL)."""
        return self.env["DATABASE_URL"]

    @property
    def dagster_url(self) -> str:
        """Dagster's storage, as a psycopg (3) URL."""
        return self.env["FACE_ASSETS_DAGSTER_DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://", 1)

    # --- GraphQL -----------------------------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
        )
        if response.status_code >= 400:
            raise ServersError(f"GraphQL HTTP {response.status_code}: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            raise ServersError(f"GraphQL errors: {json.dumps(body['errors'])[:2000]}")
        return body["data"]

    # --- the application database ------------------------------------------------------------------------------

    def app(self, query: str, params: Any = None) -> list[tuple]:
        with psycopg.connect(self.app_url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def stop_app_database(self) -> None:
        run_cli(["db", "stop"], self._app_db_env(), self.logs / "app-db.log")

    def start_app_database(self) -> None:
        run_cli(["db", "start"], self._app_db_env(), self.logs / "app-db.log")

    def _app_db_env(self) -> dict[str, str]:
        return base_env(FACE_ASSETS_HOME=str(self.app_home))

    # --- processes ---------------------------------------------------------------------------------------------

    def log_tail(self, name: str, chars: int = 3000) -> str:
        text = ""
        for suffix in ("out", "err"):
            path = self.logs / f"{name}.{suffix}"
            if path.exists():
                text += f"--- {path.name} ---\n{path.read_text(errors='replace')[-chars:]}\n"
        return text

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise ServersError(f"{name} exited with code {proc.returncode}\n{self.log_tail(name)}")

    def _spawn(self, name: str, argv: list[str]) -> None:
        out = (self.logs / f"{name}.out").open("w")
        err = (self.logs / f"{name}.err").open("w")
        self.processes[name] = subprocess.Popen(
            argv, env=self.env, cwd=self.base, stdout=out, stderr=err, start_new_session=True
        )

    def spawn_webserver(self) -> None:
        self._started = time.monotonic()
        self._spawn(
            "webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.port), "-w", str(WORKSPACE)]
        )

    def spawn_daemon(self) -> None:
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(WORKSPACE)])

    def wait_ready(self) -> None:
        """Until the webserver answers with the code location loaded and the daemons heartbeat."""
        wait_for(
            self._webserver_ready,
            START_TIMEOUT_SECONDS,
            "dagster-webserver answering /server_info",
            on_timeout=lambda: self.log_tail("webserver"),
        )
        wait_for(
            self._location_loaded,
            START_TIMEOUT_SECONDS,
            "code location face_assets loaded",
            on_timeout=lambda: self.log_tail("webserver"),
        )
        self.timings["webserver_ready"] = time.monotonic() - self._started
        wait_for(
            self._daemons_healthy,
            START_TIMEOUT_SECONDS,
            f"daemons {REQUIRED_DAEMONS} heartbeating",
            on_timeout=lambda: self.log_tail("daemon"),
        )
        self.timings["daemon_healthy"] = time.monotonic() - self._started

    def _webserver_ready(self) -> bool:
        self.check_alive()
        return requests.get(f"{self.url}/server_info", timeout=5).status_code == 200

    def _location_loaded(self) -> bool:
        self.check_alive()
        data = self.graphql("""
            query { workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
              locationOrLoadError { __typename ... on PythonError { message stack } } } } } }""")
        entries = data["workspaceOrError"]["locationEntries"]
        for entry in entries:
            error = entry["locationOrLoadError"]
            if error and error["__typename"] == "PythonError":
                raise ServersError(
                    f"code location {entry['name']} failed to load: {error['message']}\n"
                    + "".join(error["stack"])[-3000:]
                )
        return any(e["name"] == LOCATION and e["loadStatus"] == "LOADED" for e in entries)

    def daemon_statuses(self) -> dict[str, dict]:
        data = self.graphql("""
            query { instance { daemonHealth { allDaemonStatuses {
              daemonType required healthy lastHeartbeatTime } } } }""")
        return {d["daemonType"]: d for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]}

    def _daemons_healthy(self) -> bool:
        self.check_alive()
        statuses = self.daemon_statuses()
        return all(statuses.get(d, {}).get("healthy") for d in REQUIRED_DAEMONS)

    def stop(self) -> list[str]:
        """Stop both servers (process groups: SIGTERM, then SIGKILL), then anything left with this session's home.

        Returns a description of each process that was still alive after its group was stopped (should be none).
        """
        for _name, proc in self.processes.items():
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.processes.values():
            _signal_group(proc.pid, signal.SIGKILL)  # children of a process that exited are still in its group
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        time.sleep(0.5)
        return kill_leftovers(self.home)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_leftovers(home: Path) -> list[str]:
    """Kill every process (not PostgreSQL's) whose environment has FACE_ASSETS_HOME=`home`; describe each one."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "name", "username"]):
        if (
            proc.pid == os.getpid()
            or proc.info["name"] in ("postgres", "pg_ctl")
            or proc.info["username"] == "pgserver"
        ):
            continue  # the embedded database servers are stopped by `face-assets db stop`
        try:
            if proc.environ().get("FACE_ASSETS_HOME") != str(home):
                continue
            found.append(f"{proc.pid}: {' '.join(proc.info['cmdline'] or [])[:200]}")
            proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def defined_asset_keys() -> set[str]:
    """The asset keys of the project's code location (face_assets.definitions), as strings."""
    from face_assets.definitions import defs

    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def setup_assets() -> list[str]:
    """SETUP_ASSETS that the definitions have (creator_embeddings comes with the matching assets)."""
    keys = defined_asset_keys()
    return [k for k in SETUP_ASSETS if k in keys]


def tune_throwaway_server(url: str) -> None:
    """No disk flush per commit on these throwaway servers (every Dagster event is a commit): the tests wait on
    PostgreSQL several times less. A clean stop (`face-assets db stop`) still writes everything out."""
    with psycopg.connect(url, autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")


APP_ROLE = "face_assets_app"
DAGSTER_ROLE = "face_assets_dagster"
# One password per test session, for both roles: whatever shows it (a file, a log line, metadata) leaks it.
SECRET = "e2e-pw-" + secrets.token_hex(12)


def password_role(server_url: str, role: str, database: str, extensions: tuple[str, ...] = ()) -> str:
    """A login role with SECRET as its password, owning `database` (created), and the URL to connect as it.

    The embedded server trusts local connections; a line in pg_hba.conf makes this role's connections need the
    password (scram-sha-256). Extensions that need a superuser are created beforehand, as a DBA would."""
    from sqlalchemy.engine import make_url

    from face_assets.db.embedded_postgres import ensure_database, with_database

    ensure_database(with_database(server_url, database))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'")
        conn.execute(f"ALTER DATABASE {database} OWNER TO {role}")
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
    with psycopg.connect(with_database(server_url, database), autocommit=True) as conn:
        for extension in extensions:
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
    rules = hba.read_text()
    hba.write_text(f"local all {role} scram-sha-256\n" + rules)  # root may write it; the server only reads it
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
    url = make_url(with_database(server_url, database)).set(username=role, password=SECRET)
    return url.render_as_string(hide_password=False)


def start_servers(extra_env: dict[str, str] | None = None) -> Servers:
    """Embedded databases, the setup assets, then the webserver and the daemon; see the module docstring.

    `extra_env` overrides the servers' variables (the benchmarks set their own automation cron)."""
    if not LEGACY_DB.exists():
        raise ServersError(f"fixture data not found at {FIXTURES}")
    base = Path(tempfile.mkdtemp(prefix="face_assets_e2e_", dir="/tmp"))
    base.chmod(0o755)  # the embedded PostgreSQL runs as its own system user when the tests run as root
    for name in ("logs", "library", "home", "app-home"):
        (base / name).mkdir()
    timings: dict[str, float] = {}
    t0 = time.monotonic()

    # Two embedded servers: Dagster's storage in home/pg, the application database in app-home/pg (started together).
    starting = {
        name: subprocess.Popen(
            [str(BIN / "face-assets"), "db", "start"],
            env=base_env(FACE_ASSETS_HOME=str(base / name)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("app-home", "home")
    }
    urls = {}
    for name, proc in starting.items():
        out, err = proc.communicate(timeout=120)
        (base / "logs" / f"{name}-db.log").write_text(out + err)
        if proc.returncode != 0:
            raise ServersError(f"face-assets db start ({name}) failed:\n{(out + err)[-3000:]}")
        urls[name] = out.strip().splitlines()[-1]
        tune_throwaway_server(urls[name])
    # Both URLs carry a password (roles that must log in with it), so the secrets test can look for it everywhere.
    app_url = password_role(urls["app-home"], APP_ROLE, "face_assets", extensions=("vector",))
    dagster_url = password_role(urls["home"], DAGSTER_ROLE, "dagster")
    timings["databases"] = time.monotonic() - t0

    env = base_env(
        FACE_ASSETS_HOME=str(base / "home"),
        DATABASE_URL=app_url,
        FACE_ASSETS_DAGSTER_DATABASE_URL=dagster_url,
        FACE_ASSETS_LEGACY_DB=str(LEGACY_DB),
        FACE_ASSETS_PATH_MAP=f"/srv/media={FIXTURE_LIBRARY}",
        FACE_ASSETS_LIBRARY=str(base / "library"),
        FACE_ASSETS_SENSOR_INTERVAL=str(SENSOR_INTERVAL_SECONDS),
        FACE_ASSETS_AUTOMATION_CRON=AUTOMATION_CRON,  # clusters and stats refresh within a minute
    )
    env.update(extra_env or {})
    env.update(prepared_environment(env, base / "logs" / "prepare.log"))

    servers = Servers(base=base, env=env, port=free_port(), app_home=base / "app-home", timings=timings, secret=SECRET)
    try:
        # The webserver loads the code location while the setup assets materialize (it runs nothing itself);
        # the daemon, which ticks the sensor and the schedule, starts only once their tables exist.
        servers.spawn_webserver()
        t1 = time.monotonic()
        selection = " or ".join(["group:legacy_migration", *(f"key:{k}" for k in setup_assets())])
        run_cli(["run", "--select", selection], env, base / "logs" / "setup-run.log")
        with psycopg.connect(app_url, autocommit=True) as conn:
            # Only <base>/library is watched: the fixture library's own files stay out of the sensor's view.
            conn.execute("UPDATE watched_directories SET is_active = false")
        timings["setup_run"] = time.monotonic() - t1
        servers.spawn_daemon()
        servers.wait_ready()
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: Servers, remove: bool = True) -> list[str]:
    """Stop the servers and both embedded databases; remove the session folder (logs are copied first)."""
    leftovers = servers.stop()
    for home in (servers.app_home, servers.home):
        run_cli(["db", "stop"], base_env(FACE_ASSETS_HOME=str(home)), servers.logs / "db-stop.log", check=False)
    keep = REPO / ".test_output" / "e2e" / "logs"
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(servers.logs, keep, dirs_exist_ok=True)
    if remove:
        shutil.rmtree(servers.base, ignore_errors=True)
    return leftovers


# --- one set of servers for every test that asks for it --------------------------------------------------------

_shared: dict[str, Any] = {}


ATTACH_ENV = "FACE_ASSETS_E2E_ATTACH"


def acquire() -> Servers:
    """The shared servers, started on first use (an earlier failure to start is raised again).

    With FACE_ASSETS_E2E_ATTACH=FILE the tests use servers kept running by `python -m face_assets_tests.e2e.servers
    FILE` instead (for working on the tests: no two-minute start per try); those are never stopped here.
    """
    attach = os.environ.get(ATTACH_ENV)
    if attach:
        return Servers.load(Path(attach))
    if "error" in _shared:
        raise ServersError(f"the servers failed to start earlier: {_shared['error']}")
    if "servers" not in _shared:
        try:
            _shared["servers"] = start_servers()
        except BaseException as exc:
            _shared["error"] = str(exc)[:3000]
            raise
        atexit.register(release)
    return _shared["servers"]


def release() -> list[str]:
    servers = _shared.pop("servers", None)
    _shared.pop("error", None)
    return stop_servers(servers) if servers else []


def release_unless_needed(item, nextitem) -> None:
    """After a test: stop the shared servers unless a test still to run uses them (called from the conftests)."""
    if "servers" not in _shared:
        return
    if nextitem is not None:
        items = item.session.items
        later = items[items.index(nextitem) :] if nextitem in items else [nextitem]
        if any("servers" in getattr(i, "fixturenames", ()) for i in later):
            return
    leftovers = release()
    if leftovers:
        raise ServersError(f"processes outlived the servers' process groups (killed): {leftovers}")


def main(argv: list[str]) -> int:
    """`python -m face_assets_tests.e2e.servers FILE`: start the servers, write FILE, keep them until Ctrl-C/SIGTERM."""
    if len(argv) != 1:
        print(main.__doc__)
        return 2
    servers = acquire()
    servers.save(Path(argv[0]))
    print(f"servers up at {servers.url} (home {servers.home}); {ATTACH_ENV}={argv[0]} attaches the tests", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        while not stopping:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    print(f"leftovers: {release()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
