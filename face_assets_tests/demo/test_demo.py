"""The demo library `make demo` builds when no fixture data is beside the checkout, and the pipeline on it.

The end-to-end test hides ../shared: the demo command runs with no legacy database, path map or library configured,
only the fixture model pack pointed at explicitly (FACE_ASSETS_MODEL_ROOT), as on a clone with nothing beside it
and the model installed by hand.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from face_assets_tests.conftest import FIXTURES, MODEL_ROOT, REPO, _create_database


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    return tmp_path_factory.mktemp("demo_home")


@pytest.fixture(scope="module")
def library(demo_home):
    from face_assets import demo

    return demo.build(demo_home / "demo")


def test_legacy_schema_is_the_committed_one(library):
    from face_assets.db.sql_files import SQL_DIR
    from face_assets.migration.ddl import table_script
    from face_assets.migration.legacy_schema import LegacySchema

    schema = LegacySchema.read(library.legacy_db)
    committed = {f.stem: f.read_text() for f in (SQL_DIR / "legacy").glob("*.sql")}
    assert set(schema.tables) == set(committed)
    for name, table in schema.tables.items():
        assert table_script(table) == committed[name], name  # same columns, keys, constraints and index names


def test_library_contents_and_truth_agree(library):
    from face_assets.settings import PathMap
    from face_assets.video.probe import probe

    truth = json.loads(library.truth.read_text())
    mapping = PathMap.parse(library.path_map)
    with sqlite3.connect(library.legacy_db) as conn:
        videos = dict(conn.execute("SELECT id, file_path FROM videos").fetchall())
        pictures = dict(conn.execute("SELECT name, profile_picture_path FROM creators").fetchall())
        orphans = conn.execute("SELECT count(*) FROM video_creators WHERE video_id NOT IN (SELECT id FROM videos)")
        assert orphans.fetchone()[0] == 1
    conn.close()
    for name, vid in truth["legacy_video_ids"].items():
        path = mapping.apply(videos[vid])
        assert path == str(library.library / name)
        info = probe(path)
        assert info.duration_seconds == pytest.approx(truth["videos"][name]["duration"], abs=0.5)
    for name, picture in truth["creators_with_pictures"].items():
        assert (library.library / picture).is_file()
        assert mapping.apply(pictures[name]) == str(library.library / picture)
    for name in truth["new_files_not_in_legacy_db"]:
        assert (library.library / name).is_file() and f"/srv/media/{name}" not in videos.values()
    assert all(p.startswith("/srv/media/") for p in videos.values())
    assert "InsightFace" in library.description()


def test_a_second_build_reuses_the_library(library):
    from face_assets import demo

    before = library.legacy_db.stat().st_mtime_ns
    assert demo.build(library.root).legacy_db.stat().st_mtime_ns == before


def _make_dry_run(*args: str) -> str:
    """The last command `make -n` prints (run as a top-level make: under `make test` the parent's MAKEFLAGS and
    MAKELEVEL would make it print its directory changes too)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    return dry.stdout.strip().splitlines()[-1]


def test_make_demo_without_shared_runs_the_demo_command(tmp_path):
    command = _make_dry_run("demo", f"SHARED={tmp_path / 'nothing_here'}")
    assert command.endswith(("face-assets demo ", "face-assets demo"))
    if (FIXTURES / "truth.json").exists():
        assert _make_dry_run("demo").endswith(f"face-assets demo --truth {FIXTURES / 'truth.json'}")


def _demo_env(home, **extra) -> dict:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FACE_ASSETS_", "DAGSTER_")) and k != "DATABASE_URL"
    }
    env.update(
        FACE_ASSETS_HOME=str(home),
        FACE_ASSETS_ALLOW_MODEL_DOWNLOAD="0",
        FACE_ASSETS_PROVIDERS="CPUExecutionProvider",
        **extra,
    )
    return env


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_with_nothing_beside_the_clone(pg_server, demo_home, library):
    if not (MODEL_ROOT / "models" / "buffalo_sc").is_dir():
        pytest.skip(f"fixture model pack not found at {MODEL_ROOT}/models/buffalo_sc")
    env = _demo_env(
        demo_home,
        FACE_ASSETS_MODEL="buffalo_sc",
        FACE_ASSETS_MODEL_ROOT=str(MODEL_ROOT),
        DATABASE_URL=_create_database(pg_server, "demo"),
        FACE_ASSETS_DAGSTER_DATABASE_URL=_create_database(pg_server, "demodg"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "face_assets.cli", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    out = result.stdout
    print(out[-6000:])
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"demo data: the demo library built in {library.root}" in out
    assert "model: buffalo_sc" in out
    assert f"compared with {library.truth}" in out
    assert "shared/fixtures/legacy" not in out and "shared/fixtures/library" not in out
    truth = json.loads(library.truth.read_text())
    assert f"creators with a usable picture embedded: {len(truth['creators_with_pictures'])} of" in out
    auto_tags = int(out.split("auto-tags: ", 1)[1].split(",")[0])
    assert auto_tags >= 4 and f"auto-tags: {auto_tags}, wrong: 0" in out
    for person in truth["unknown_people"]:
        assert f"unknown person {person}: one cluster" in out
    assert "clusters mixing people: none" in out


def test_demo_offline_without_a_model_says_how_to_point_at_one(demo_home, library, fresh_db, tmp_path):
    env = _demo_env(demo_home, FACE_ASSETS_MODEL_ROOT=str(tmp_path), DATABASE_URL=fresh_db)
    result = subprocess.run(
        [sys.executable, "-m", "face_assets.cli", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    problems = [line for line in result.stderr.splitlines() if "nothing was started" not in line]
    assert len(problems) == 1
    assert (
        f"model pack buffalo_l not found in {tmp_path / 'models' / 'buffalo_l'} and downloads are off "
        "(FACE_ASSETS_ALLOW_MODEL_DOWNLOAD=0): set FACE_ASSETS_MODEL_ROOT"
    ) in problems[0]
