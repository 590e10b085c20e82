"""The direct load (COPY straight into the target) and the parallel loader give exactly the staged loader's outcome:
same rows, same rejects with the same reasons, same indexes, constraints and sequences, checks passing."""

import re
import sqlite3
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from face_assets.migration import loader
from face_assets.migration.legacy_schema import LegacySchema
from face_assets.migration.parallel import migrate_tables
from face_assets.settings import PathMap
from face_assets_tests.conftest import LEGACY_DB, LIBRARY, require_fixtures
from face_assets_tests.migration.conftest import PATH_MAP, migrate_all

SCHEMA = """
CREATE TABLE shelves (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, added_at DATETIME);
CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shelf_id INTEGER NOT NULL REFERENCES shelves(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES items(id),
    qty INTEGER NOT NULL,
    width INTEGER,
    ratio REAL,
    meta JSON,
    file_path TEXT,
    is_new BOOLEAN DEFAULT 1,
    seen_at DATETIME
);
CREATE INDEX idx_items_width ON items (width);
CREATE TABLE item_tags (item_id INTEGER NOT NULL REFERENCES items(id), tag TEXT NOT NULL, PRIMARY KEY (item_id, tag));
"""

# (id, shelf_id, parent_id, qty, width, ratio, meta, file_path, is_new, seen_at)
CLEAN_ITEMS = [
    (1, 1, None, 5, 10, 0.1, '{"a": 1}', "/srv/media/a.mp4", 1, "2024-01-02 03:04:05"),
    (2, 1, None, "many", 20, 1.5, None, None, 0, "2024-01-02T03:04:05.123Z"),  # NOT NULL value that cannot be: rejected
    (3, 2, 1, 7, "unknown", "2.25", None, "/srv/media/b/c.mp4", 1, None),  # bad width: NULLed; REAL as TEXT
    (4, 2, 3, 1, 30, None, "{bad", "/elsewhere/d.mp4", 0, "2024-05-06 07:08:09"),  # malformed JSON: NULLed
    (5, 1, 4, 2, "x", 1e300, "[1, 2]", None, 1, "not a date"),  # two bad values in one row: both NULLed
]
ORPHANS = [
    (6, 9, None, 1, 40, None, None, None, 1, None),  # shelf 9 does not exist: rejected
    (7, 1, 2, 3, 50, None, None, None, 1, None),  # its parent item 2 is rejected: rejected too
    (8, 1, 7, "zz", 60, None, None, None, 1, None),  # orphan of an orphan, and a bad NOT NULL value
]


def legacy_db(path: Path, orphans: bool) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO shelves VALUES (?, ?, ?)", [(1, "top", "2024-01-01 00:00:00"), (2, "low", None)])
        conn.executemany(
            f"INSERT INTO items VALUES ({', '.join('?' * 10)})", CLEAN_ITEMS + (ORPHANS if orphans else [])
        )
        conn.executemany(
            "INSERT INTO item_tags VALUES (?, ?)", [(1, "x"), (3, "y"), (4, "z")] + ([(6, "w")] if orphans else [])
        )
    return path


def migrate_serial(url: str, db: Path, path_map: PathMap = PATH_MAP) -> dict:
    """The serial loader's checks per table: the outcome the direct and parallel loaders must match."""
    return {name: result.check for name, result in migrate_all(url, db, path_map).items()}


def fingerprint(url: str, tables) -> dict:
    """Everything the migration leaves behind, order-independent."""
    out = {}
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for name in tables:
            out[name] = conn.execute(
                sql.SQL("SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM {} t").format(
                    sql.Identifier(name)
                )
            ).fetchone()
        out["rejects"] = sorted(
            conn.execute(
                "SELECT table_name, source_key::text, source_row::text, reason, disposition, columns FROM migration_rejects"
            ).fetchall(),
            key=repr,
        )
        out["constraints"] = sorted(
            conn.execute(
                "SELECT conrelid::regclass::text, conname, convalidated, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE connamespace = 'public'::regnamespace"
            ).fetchall()
        )
        out["indexes"] = sorted(
            conn.execute("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'").fetchall()
        )
        out["sequences"] = sorted(
            conn.execute("SELECT sequencename, last_value FROM pg_sequences").fetchall(), key=repr
        )
    return out


@pytest.fixture
def staged_only(monkeypatch):
    monkeypatch.setattr(loader, "load_direct", lambda *args, **kwargs: None)


def _spy_direct(monkeypatch) -> dict:
    seen = {}
    real = loader.load_direct

    def spy(conn, legacy_db, table, *args, **kwargs):
        seen[table.name] = real(conn, legacy_db, table, *args, **kwargs)
        return seen[table.name]

    monkeypatch.setattr(loader, "load_direct", spy)
    return seen


@pytest.mark.parametrize("orphans", [False, True], ids=["bad-values", "bad-values-and-orphans"])
def test_direct_load_gives_the_staged_outcome(pg_server, fresh_db, tmp_path, monkeypatch, orphans):
    from face_assets_tests.conftest import _create_database, _drop_database

    db = legacy_db(tmp_path / "legacy.db", orphans)
    tables = ["shelves", "items", "item_tags"]
    seen = _spy_direct(monkeypatch)
    checks = migrate_serial(fresh_db, db)
    assert all(c.counts_match and c.checksums_match for c in checks.values()), checks
    direct = fingerprint(fresh_db, tables)
    if orphans:  # an orphan undoes the direct load: the staged way takes the table whole
        assert seen["items"] is None and seen["item_tags"] is None and seen["shelves"] is not None
    else:  # 4 rows skipped by COPY (bad values), staged; one of them rejected
        assert (seen["items"].copied, seen["items"].staged, seen["items"].inserted) == (1, 4, 3)

    monkeypatch.setattr(loader, "load_direct", lambda *args, **kwargs: None)
    staged_url = _create_database(pg_server, "t")
    try:
        migrate_serial(staged_url, db)
        assert fingerprint(staged_url, tables) == direct
    finally:
        _drop_database(pg_server, staged_url)

    with psycopg.connect(fresh_db) as conn:
        rejects = dict(
            conn.execute(
                "SELECT source_row->>'id', disposition || ': ' || reason FROM migration_rejects"
                " WHERE table_name = 'items'"
            ).fetchall()
        )
        assert rejects["2"].startswith("row_rejected: qty is NOT NULL")
        assert rejects["3"] == "value_nulled: set to NULL: width = 'unknown' is not a valid bigint"
        assert "meta = '{bad' is not a valid jsonb" in rejects["4"]
        assert "width = 'x'" in rejects["5"] and "seen_at = 'not a date'" in rejects["5"]
        assert conn.execute("SELECT width, ratio, meta, file_path FROM items WHERE id = 3").fetchone() == (
            None,
            2.25,
            None,
            f"{LIBRARY}/b/c.mp4",
        )
        if orphans:
            assert rejects["6"] == "row_rejected: orphan: shelf_id = 9 has no row in shelves"
            assert rejects["7"] == "row_rejected: orphan: parent_id = 2 has no row in items"
            assert "row_rejected" in rejects["8"]
        else:
            assert len(rejects) == 4


def test_without_the_privilege_to_switch_triggers_off(pg_server, fresh_db, tmp_path, monkeypatch):
    """A role that may not set session_replication_role: foreign keys dropped and re-added instead, same outcome."""
    db = legacy_db(tmp_path / "legacy.db", orphans=False)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'fa_migrate_test'").fetchone():
            conn.execute("CREATE ROLE fa_migrate_test LOGIN")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("GRANT ALL ON SCHEMA public TO fa_migrate_test")
    plain = make_url(fresh_db).set(username="fa_migrate_test").render_as_string(hide_password=False)
    seen = _spy_direct(monkeypatch)
    switched = []
    real_switch = loader._without_fk_triggers
    monkeypatch.setattr(loader, "_without_fk_triggers", lambda conn: switched.append(real_switch(conn)) or switched[-1])
    checks = migrate_serial(plain, db)
    assert switched and not any(switched)
    assert all(c.counts_match and c.checksums_match for c in checks.values())
    assert seen["items"].staged == 4
    direct = fingerprint(fresh_db, ["shelves", "items", "item_tags"])

    from face_assets_tests.conftest import _create_database, _drop_database

    monkeypatch.setattr(loader, "load_direct", lambda *args, **kwargs: None)
    staged_url = _create_database(pg_server, "t")
    try:
        migrate_serial(staged_url, db)
        staged = fingerprint(staged_url, ["shelves", "items", "item_tags"])
    finally:
        _drop_database(pg_server, staged_url)
    assert direct == staged


def test_unreadable_skip_notices_undo_the_direct_load(fresh_db, tmp_path, monkeypatch):
    """Notices it cannot read (another language): the skipped rows are not known, so the table is staged whole."""
    db = legacy_db(tmp_path / "legacy.db", orphans=False)
    monkeypatch.setattr(loader, "_SKIPPED_LINE", re.compile(r"(?!)"))
    seen = _spy_direct(monkeypatch)
    checks = migrate_serial(fresh_db, db)
    assert seen["items"] is None and seen["shelves"] is not None
    assert all(c.counts_match and c.checksums_match for c in checks.values())
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM migration_rejects WHERE table_name = 'items'").fetchone()[0] == 4


def test_parallel_equals_serial_on_the_fixture(pg_server, fresh_db):
    require_fixtures()
    from face_assets_tests.conftest import _create_database, _drop_database

    schema = LegacySchema.read(LEGACY_DB)
    outcomes = list(migrate_tables(lambda: psycopg.connect(fresh_db), schema, schema.tables, PATH_MAP, workers=3))
    assert sorted(o.table for o in outcomes) == sorted(schema.tables)
    for o in outcomes:
        assert o.error is None, (o.table, o.error)
        assert o.check.counts_match and o.check.checksums_match, o.table
        assert o.result.source_rows == o.result.migrated_rows + o.result.rejected_rows, o.table
    parallel = fingerprint(fresh_db, schema.tables)
    serial_url = _create_database(pg_server, "t")
    try:
        migrate_serial(serial_url, LEGACY_DB)
        assert fingerprint(serial_url, schema.tables) == parallel
    finally:
        _drop_database(pg_server, serial_url)


def test_parallel_reports_a_failed_table_and_skips_what_references_it(fresh_db, tmp_path, monkeypatch):
    db = legacy_db(tmp_path / "legacy.db", orphans=False)
    real = loader.migrate_table

    def failing(conn, schema, name, *args, **kwargs):
        if name == "items":
            raise RuntimeError("disk on fire")
        return real(conn, schema, name, *args, **kwargs)

    monkeypatch.setattr("face_assets.migration.parallel.migrate_table", failing)
    schema = LegacySchema.read(db)
    outcomes = {o.table: o for o in migrate_tables(lambda: psycopg.connect(fresh_db), schema, schema.tables, PATH_MAP)}
    assert outcomes["shelves"].error is None and outcomes["shelves"].check.counts_match
    assert "disk on fire" in str(outcomes["items"].error)
    assert "a table it references failed (items)" in str(outcomes["item_tags"].error)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM item_tags").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM shelves").fetchone()[0] == 2
