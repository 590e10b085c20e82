"""`face-assets db backup` and `face-assets db restore` through face_assets.cli.main, on real PostgreSQL, with the
Dagster instance the command opens itself (DAGSTER_HOME with the project's dagster.yaml, storage in a database of
its own)."""

from __future__ import annotations

import psycopg
import pytest

from face_assets.cli.main import main
from face_assets.db import backup
from face_assets.db.instance import REPO_DAGSTER_YAML
from face_assets_tests.conftest import _create_database, _drop_database


@pytest.fixture
def cli_env(fresh_db, pg_server, tmp_path, monkeypatch):
    """The application database `fresh_db` (a few rows), backups in tmp_path/backups, a Dagster home of its own."""
    with psycopg.connect(fresh_db) as conn:
        conn.execute("CREATE TABLE creators (id integer PRIMARY KEY, name text)")
        conn.execute("INSERT INTO creators VALUES (1, 'Alpha'), (2, 'Beta')")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(REPO_DAGSTER_YAML.read_text())
    storage = _create_database(pg_server, "dg")
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("FACE_ASSETS_DAGSTER_DATABASE_URL", storage)
    monkeypatch.setenv("FACE_ASSETS_BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("FACE_ASSETS_BACKUP_KEEP", "2")
    yield fresh_db
    _drop_database(pg_server, storage)


def test_backup_then_restore_refuses_a_non_empty_database_unless_replace(cli_env, tmp_path, capsys):
    assert main(["db", "backup"]) == 0
    out = capsys.readouterr().out
    made = backup.list_backups(tmp_path / "backups")
    assert len(made) == 1 and out.startswith(f"backup {made[0]} (") and "1 tables, 2 rows" in out

    assert main(["db", "restore", str(made[0])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("restore refused: database ") and "is not empty (1 tables)" in err and "--replace" in err

    with psycopg.connect(cli_env) as conn:
        conn.execute("DELETE FROM creators WHERE id = 2")
    assert main(["db", "restore", str(made[0]), "--replace"]) == 0
    out = capsys.readouterr().out
    assert f"restored {made[0]} into " in out and "1 tables, 2 rows, schema version none recorded" in out
    with psycopg.connect(cli_env) as conn:
        assert conn.execute("SELECT name FROM creators ORDER BY id").fetchall() == [("Alpha",), ("Beta",)]


def test_backup_to_a_file_of_ones_choice(cli_env, tmp_path, capsys):
    target = tmp_path / "elsewhere" / "before-upgrade.dump"
    assert main(["db", "backup", "--to", str(target)]) == 0
    assert target.is_file() and f"backup {target} (" in capsys.readouterr().out
    assert backup.list_backups(tmp_path / "backups") == []


def test_restore_is_refused_while_a_run_is_in_progress(cli_env, tmp_path, capsys):
    from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

    dump = backup.backup(cli_env, to=tmp_path / "b.dump").file
    with psycopg.connect(cli_env) as conn:
        conn.execute("DROP TABLE creators")  # an empty database: only the run stands in the way
    from face_assets.db import instance as instance_env

    instance_env.prepare()
    with DagsterInstance.get() as instance:
        instance.add_run(DagsterRun(job_name="process_videos", run_id="c" * 32, status=DagsterRunStatus.STARTED))

    assert main(["db", "restore", str(dump)]) == 2
    err = capsys.readouterr().err
    assert "restore refused: refusing to restore while 1 Dagster run(s) may use the database: cccccccc" in err
    assert backup.read_contents(cli_env).tables == {}  # nothing restored


def test_the_server_actions_are_still_there(cli_env, capsys):
    assert main(["db", "url"]) == 0
    assert capsys.readouterr().out.strip() == cli_env
