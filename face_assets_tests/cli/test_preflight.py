"""Configuration checked before anything starts, and the retry policy retrying only what can pass on a retry.

Each preflight test starts from a configuration that passes (the demo library, the fixture model pack, a real
database), takes one piece away, and expects exactly one problem line and exit status 2.
"""

from __future__ import annotations

import io
import os
import socket
import sqlite3
import subprocess
import sys

import psycopg
import pytest
from dagster import AssetExecutionContext, DagsterInstance, asset, materialize

from face_assets.cli import preflight
from face_assets.cli.preflight import Needs
from face_assets.db.retries import DATABASE_RETRY, is_transient, transient_only
from face_assets.defs.resources import PostgresResource
from face_assets_tests.conftest import MODEL_ROOT, REPO

FOOTER = "nothing was started"


def require_model_pack() -> None:
    if not (MODEL_ROOT / "models" / "buffalo_sc").is_dir():
        pytest.skip(f"fixture model pack not found at {MODEL_ROOT}/models/buffalo_sc")


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory):
    from face_assets import demo

    return demo.build(tmp_path_factory.mktemp("preflight") / "demo")


@pytest.fixture
def good(monkeypatch, demo_library, fresh_db):
    """A configuration with nothing missing (conftest points the model at the fixture pack, downloads off)."""
    require_model_pack()
    for name, value in demo_library.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    return demo_library


def exit_lines(needs: Needs | None = None) -> list[str]:
    """The problem lines check_or_exit prints (for everything unless `needs` says less); asserts it exits with status 2."""
    needs = needs if needs is not None else Needs.everything()
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        preflight.check_or_exit(needs, stream=out)
    assert exited.value.code == 2
    lines = out.getvalue().splitlines()
    assert FOOTER in lines[-1]
    return lines[:-1]


def test_a_complete_configuration_passes(good):
    assert preflight.problems(Needs.everything()) == []
    preflight.check_or_exit(Needs.everything())  # returns: nothing to report


def _not_sqlite(tmp_path):
    path = tmp_path / "video_library.db"
    path.write_text("this is a text file\n")
    return path


def _sqlite_without_tables(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE videos (id INTEGER PRIMARY KEY)")
    conn.close()
    return path


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        ("FACE_ASSETS_LEGACY_DB", None, "no legacy database configured: set FACE_ASSETS_LEGACY_DB"),
        ("FACE_ASSETS_LEGACY_DB", "{tmp}/missing.db", "no such file: set FACE_ASSETS_LEGACY_DB"),
        ("FACE_ASSETS_LEGACY_DB", "{tmp}", "not a file"),
        ("FACE_ASSETS_LEGACY_DB", _not_sqlite, "not an SQLite database"),
        ("FACE_ASSETS_LEGACY_DB", _sqlite_without_tables, "has no table watched_directories, creators, video_creators"),
        ("FACE_ASSETS_PATH_MAP", "/srv/media", "is not OLD_PREFIX=NEW_PREFIX: set FACE_ASSETS_PATH_MAP"),
        ("FACE_ASSETS_PATH_MAP", "/srv/media={tmp}/not_mounted", "FACE_ASSETS_PATH_MAP maps /srv/media to"),
        ("FACE_ASSETS_LIBRARY", "{tmp}/no_such_library", "FACE_ASSETS_LIBRARY: "),
        (
            "FACE_ASSETS_MODEL_ROOT",
            "{tmp}",
            "downloads are off (FACE_ASSETS_ALLOW_MODEL_DOWNLOAD=0): set FACE_ASSETS_MODEL_ROOT",
        ),
        ("FACE_ASSETS_MODEL", "{tmp}/empty_pack", "holds no .onnx files"),
        ("FACE_ASSETS_MODEL", "no_such_pack_name", "not found in"),
        ("FACE_ASSETS_PROVIDERS", "TPUExecutionProvider", "FACE_ASSETS_PROVIDERS=TPUExecutionProvider: none of"),
        ("FACE_ASSETS_SENSOR_INTERVAL", "soon", "FACE_ASSETS_SENSOR_INTERVAL"),
        (
            "DATABASE_URL",
            "postgresql://app:s3cret-pw@127.0.0.1:1/face_assets",
            "DATABASE_URL=postgresql://app:***@127.0.0.1:1/face_assets: cannot connect",
        ),
        (
            "FACE_ASSETS_DAGSTER_DATABASE_URL",
            "postgresql+psycopg2://dg:s3cret-pw@127.0.0.1:1/dagster",
            "FACE_ASSETS_DAGSTER_DATABASE_URL=postgresql+psycopg2://dg:***@127.0.0.1:1/dagster: cannot connect",
        ),
    ],
)
def test_one_piece_taken_away_gives_one_line_and_exit_2(good, monkeypatch, tmp_path, variable, value, expected):
    if value is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        if callable(value):
            value = str(value(tmp_path))
        value = value.replace("{tmp}", str(tmp_path))
        (tmp_path / "empty_pack").mkdir(exist_ok=True)
        monkeypatch.setenv(variable, value)
    lines = exit_lines()
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert "s3cret-pw" not in lines[0]


def test_pgvector_missing_is_named(good, monkeypatch):
    # The embedded server always has pgvector, so the same check is pointed at an extension it does not have.
    url, problems = preflight.check_database(extension="no_such_extension_for_test")
    assert url is None
    assert len(problems) == 1
    assert "the pgvector extension (no_such_extension_for_test) is not available" in problems[0]
    assert "unset DATABASE_URL" in problems[0]


def test_no_library_root_at_all(good, monkeypatch, tmp_path):
    # The legacy database's only active watched directory maps to a folder that exists but is not the library.
    monkeypatch.setenv("FACE_ASSETS_PATH_MAP", f"/srv/media={tmp_path / 'empty'}")
    (tmp_path / "empty").mkdir()
    lines = exit_lines()
    assert lines == [
        f"face-assets: no library root exists (looked for {tmp_path / 'empty' / 'videos'}): set FACE_ASSETS_PATH_MAP"
        "=OLD=NEW so the legacy watched directories point at your library, or FACE_ASSETS_LIBRARY to "
        "its folder"
    ]


def test_what_is_checked_follows_the_selection(good, monkeypatch):
    monkeypatch.delenv("FACE_ASSETS_LEGACY_DB")
    monkeypatch.setenv("FACE_ASSETS_MODEL", "no_such_pack_name")
    needs, problems = preflight.needs_for_selection("face_schema")
    assert problems == [] and needs == Needs()
    assert preflight.problems(needs) == []  # neither the legacy file nor the model is needed for it
    assert preflight.needs_for_selection("group:legacy_migration")[0] == Needs(legacy=True)
    assert preflight.needs_for_selection("sampled_frames")[0] == Needs(library=True)
    assert preflight.needs_for_selection("face_detections")[0] == Needs(library=True, model=True, same_model=True)
    assert preflight.needs_for_selection(None)[0] == Needs.everything()
    needs, problems = preflight.needs_for_selection("no such ::: selection")
    assert len(problems) == 1 and problems[0].startswith("--select 'no such ::: selection' is not a valid")


def test_model_download_allowed_for_a_published_pack_passes(good, monkeypatch, tmp_path):
    # Nothing is downloaded: the check only says the pack may be fetched on first use.
    monkeypatch.setenv("FACE_ASSETS_MODEL", "buffalo_l")
    monkeypatch.setenv("FACE_ASSETS_MODEL_ROOT", str(tmp_path))
    monkeypatch.setenv("FACE_ASSETS_ALLOW_MODEL_DOWNLOAD", "1")
    # The download site itself is not contacted here (test machines are offline): a local listener stands in.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        monkeypatch.setattr(preflight, "download_site", lambda: listener.getsockname()[:2])
        assert preflight.check_model() == []
    assert not (tmp_path / "models").exists()


def test_a_pack_to_download_from_an_unreachable_site_is_a_problem_before_the_run(good, monkeypatch, tmp_path):
    monkeypatch.setenv("FACE_ASSETS_MODEL", "buffalo_l")
    monkeypatch.setenv("FACE_ASSETS_MODEL_ROOT", str(tmp_path))
    monkeypatch.setenv("FACE_ASSETS_ALLOW_MODEL_DOWNLOAD", "1")
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(preflight, "download_site", lambda: ("face-assets.invalid", 443))  # .invalid never resolves
    problems = preflight.check_model()
    assert len(problems) == 1
    assert problems[0].startswith(
        f"model pack buffalo_l not found in {tmp_path / 'models' / 'buffalo_l'}, and "
        "InsightFace cannot download it: its download site face-assets.invalid is not "
        "reachable"
    )
    assert not (tmp_path / "models").exists()
    assert preflight.download_site()[0]  # the real site comes from InsightFace's own constant


def _cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "face_assets.cli", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_run_and_dev_stop_before_starting_anything(good, tmp_path):
    missing = str(tmp_path / "missing.db")
    result = _cli(["run"], {"FACE_ASSETS_LEGACY_DB": missing, "FACE_ASSETS_HOME": str(tmp_path / "home")})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    problems = [line for line in result.stderr.splitlines() if FOOTER not in line]
    assert problems == [
        f"face-assets: FACE_ASSETS_LEGACY_DB={missing}: no such file: set FACE_ASSETS_LEGACY_DB to "
        "the legacy app's SQLite file"
    ]
    assert not (tmp_path / "home" / "dagster").exists()  # no Dagster instance was prepared

    result = _cli(["dev"], {"FACE_ASSETS_LIBRARY": str(tmp_path / "nowhere")})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"FACE_ASSETS_LIBRARY: {tmp_path / 'nowhere'} is not a folder" in result.stderr

    result = _cli(["run", "--select", "no such ::: selection"], {})
    assert result.returncode == 2 and "is not a valid asset selection" in result.stderr


# --- the retry policy: transient errors only -------------------------------------------------------------


def _run_asset(body, url: str, instance: DagsterInstance):
    attempts = []

    @asset(retry_policy=DATABASE_RETRY)
    @transient_only()
    def step(context: AssetExecutionContext, database: PostgresResource):
        attempts.append(context.retry_number)
        body(context, database)

    result = materialize(
        [step], resources={"database": PostgresResource(url=url)}, instance=instance, raise_on_error=False
    )
    failures = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
    return result, attempts, failures


def _lose_connection_on_first_attempt(context, database):
    with database.connect() as conn:
        if context.retry_number == 0:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            with psycopg.connect(database.url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))  # what a server restart does to it
        conn.execute("SELECT 1")


def _serialization_failure_on_first_attempt(context, database):
    with database.connect() as conn:
        if context.retry_number == 0:
            conn.execute("DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END $$")


def _configuration_error(context, database):
    from face_assets.defs.migration.resources import LegacyDatabase

    LegacyDatabase(path=None).schema()  # "no legacy database configured: set FACE_ASSETS_LEGACY_DB ..."


def _data_error(context, database):
    with database.connect() as conn:
        conn.execute("SELECT 'unknown'::integer")  # like a legacy INTEGER column holding text


@pytest.mark.parametrize("body", [_lose_connection_on_first_attempt, _serialization_failure_on_first_attempt])
def test_transient_database_errors_are_retried(body, fresh_db, dagster_instance):
    result, attempts, _ = _run_asset(body, fresh_db, dagster_instance)
    assert result.success
    assert attempts == [0, 1]


@pytest.mark.parametrize(
    "body, message",
    [
        (_configuration_error, "ValueError: no legacy database configured: set FACE_ASSETS_LEGACY_DB"),
        (_data_error, "InvalidTextRepresentation: invalid input syntax for type integer"),
    ],
)
def test_configuration_and_data_errors_are_not_retried(body, message, fresh_db, dagster_instance):
    result, attempts, failures = _run_asset(body, fresh_db, dagster_instance)
    assert not result.success
    assert attempts == [0]  # failed at once, not four more times
    assert len(failures) == 1 and message in failures[0].message
    assert "not retried: a configuration or data error does not pass on a retry" in failures[0].message


def test_is_transient_on_real_errors(fresh_db):
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect("postgresql://nobody@127.0.0.1:1/x", connect_timeout=2)
    assert is_transient(refused.value)
    with psycopg.connect(fresh_db) as conn:
        with pytest.raises(psycopg.Error) as deadlock:
            conn.execute("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$")
        conn.rollback()
        with pytest.raises(psycopg.Error) as missing:
            conn.execute("SELECT * FROM no_such_table")
    assert is_transient(deadlock.value)
    assert not is_transient(missing.value)
    assert not is_transient(FileNotFoundError("legacy database not found"))
    try:
        raise RuntimeError("step failed") from refused.value
    except RuntimeError as wrapped:
        assert is_transient(wrapped)  # an explicit wrapper keeps the lost connection's verdict
