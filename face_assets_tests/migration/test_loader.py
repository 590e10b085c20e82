"""The loader on the real fixture database and on legacy databases it has never seen."""

import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from face_assets_tests.conftest import LEGACY_DB, LIBRARY, require_fixtures
from face_assets_tests.migration.conftest import migrate_all


@pytest.fixture(scope="module")
def migrated(module_db):
    require_fixtures()
    return module_db, migrate_all(module_db, LEGACY_DB)


def sqlite_rows(db: Path, query: str):
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def test_every_table_reconciles(migrated):
    _url, results = migrated
    assert len(results) == 36
    for name, r in results.items():
        (source,) = sqlite_rows(LEGACY_DB, f'SELECT count(*) FROM "{name}"')[0]
        assert r.source_rows == source, name
        assert r.check.counts_match and r.check.checksums_match, name
        assert source == r.migrated_rows + r.rejected_rows, name


def test_unconvertible_values_are_nulled_and_recorded(migrated):
    url, _ = migrated
    with psycopg.connect(url) as conn:
        unknown_ids = [r[0] for r in sqlite_rows(LEGACY_DB, "SELECT id FROM videos WHERE width = 'unknown'")]
        assert len(unknown_ids) == 4
        rows = conn.execute("SELECT id, width, height FROM videos WHERE id = ANY(%s)", (unknown_ids,)).fetchall()
        assert len(rows) == 4 and all(width is None and height is not None for _, width, height in rows)
        rejects = conn.execute(
            "SELECT source_row->>'width', disposition, reason, columns FROM migration_rejects"
            " WHERE table_name = 'videos'"
        ).fetchall()
        assert len(rejects) == 4
        assert all(
            r[0] == "unknown" and r[1] == "value_nulled" and "width" in r[2] and r[3] == ["width"] for r in rejects
        )
        # Malformed JSON: the column is NULL, the text is kept in the rejects table; good JSON became jsonb.
        ((bad_id, bad_text),) = sqlite_rows(
            LEGACY_DB,
            "SELECT id, directory_breakdown FROM stats_storage_snapshots WHERE NOT json_valid(directory_breakdown)",
        )
        assert (
            conn.execute("SELECT directory_breakdown FROM stats_storage_snapshots WHERE id = %s", (bad_id,)).fetchone()[
                0
            ]
            is None
        )
        kept = conn.execute(
            "SELECT source_row->>'directory_breakdown' FROM migration_rejects"
            " WHERE table_name = 'stats_storage_snapshots'"
        ).fetchall()
        assert kept == [(bad_text,)]
        assert (
            conn.execute(
                "SELECT count(*) FROM stats_storage_snapshots WHERE jsonb_typeof(directory_breakdown)"
                " IN ('object', 'array')"
            ).fetchone()[0]
            == 40
        )


def test_orphans_are_rejected_whole_with_the_reason(migrated):
    url, results = migrated
    with psycopg.connect(url) as conn:
        rejects = conn.execute(
            "SELECT source_row, reason, disposition FROM migration_rejects"
            " WHERE table_name = 'video_creators' ORDER BY reason"
        ).fetchall()
    assert [r[2] for r in rejects] == ["row_rejected", "row_rejected"]
    assert {(r[0]["video_id"], r[0]["creator_id"]) for r in rejects} == {(4, 999), (2108, 1)}
    assert "creator_id = 999 has no row in creators" in rejects[0][1]
    assert "video_id = 2108 has no row in videos" in rejects[1][1]
    assert results["video_creators"].migrated_rows == 212


def test_types_sizes_timestamps_and_booleans(migrated):
    url, _ = migrated
    with psycopg.connect(url) as conn:
        source_sizes = dict(sqlite_rows(LEGACY_DB, "SELECT id, file_size_bytes FROM videos"))
        target_sizes = dict(conn.execute("SELECT id, file_size_bytes FROM videos").fetchall())
        assert target_sizes == source_sizes
        assert sum(1 for v in target_sizes.values() if v > 2**31) > 1000
        # Both timestamp formats in one column, read as UTC.
        for row_id, text in sqlite_rows(LEGACY_DB, "SELECT id, started_at FROM scan_logs"):
            expected = (
                datetime.fromisoformat(text.replace("Z", "+00:00"))
                if text.endswith("Z")
                else datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
            )
            got = conn.execute("SELECT started_at FROM scan_logs WHERE id = %s", (row_id,)).fetchone()[0]
            assert got == expected, (row_id, text)
        assert conn.execute("SELECT is_available, count(*) FROM videos GROUP BY 1 ORDER BY 1").fetchall() == [
            (False, 9),
            (True, 2082),
        ]
        assert (
            conn.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_name = 'videos'"
                " AND column_name = 'is_available'"
            ).fetchone()[0]
            == "boolean"
        )


def test_names_are_kept_exactly(migrated):
    url, _ = migrated
    with psycopg.connect(url) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM creators")}
        assert {"Kira Lane", "kira lane", "Zoë O'Connor"} <= names
        assert conn.execute("SELECT count(*) FROM tags WHERE name = 'Outdoor' AND parent_id IS NULL").fetchone()[0] == 2


def test_every_legacy_index_exists_under_its_name(migrated):
    url, _ = migrated
    names = {
        r[0]
        for r in sqlite_rows(
            LEGACY_DB, "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'"
        )
    }
    assert len(names) == 64
    with psycopg.connect(url) as conn:
        present = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert names <= present


def test_paths_are_mapped_and_a_new_creator_gets_the_next_id(migrated):
    url, _ = migrated
    with psycopg.connect(url) as conn:
        path = conn.execute("SELECT file_path FROM videos WHERE id = 1231").fetchone()[0]
        assert path == str(LIBRARY / "videos" / "slideshow_01.mp4") and Path(path).exists()
        assert conn.execute("SELECT count(*) FROM videos WHERE file_path LIKE '/srv/media/%'").fetchone()[0] == 0
        pictures = [
            r[0]
            for r in conn.execute("SELECT profile_picture_path FROM creators WHERE profile_picture_path IS NOT NULL")
        ]
        assert pictures and not any(p.startswith("/srv/media/") for p in pictures)
        with conn.transaction(force_rollback=True):
            new_id = conn.execute("INSERT INTO creators (name) VALUES ('Brand New') RETURNING id").fetchone()[0]
    assert new_id == 162


def test_rematerializing_gives_the_same_result_and_keeps_referenced_rows(fresh_db, tmp_path):
    require_fixtures()
    legacy = tmp_path / "legacy.db"
    shutil.copyfile(LEGACY_DB, legacy)
    first = migrate_all(fresh_db, legacy)
    with psycopg.connect(fresh_db) as conn:
        # A later table references a video; the video is then deleted from the legacy database.
        conn.execute("CREATE TABLE later_faces (id serial, video_id integer REFERENCES videos(id))")
        conn.execute("INSERT INTO later_faces (video_id) VALUES (32)")
        conn.commit()
    with sqlite3.connect(legacy) as src:
        src.execute("PRAGMA foreign_keys = OFF")
        src.execute("DELETE FROM videos WHERE id = 32")
        src.execute("UPDATE creators SET description = 'changed' WHERE id = 10")
    second = migrate_all(fresh_db, legacy)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM videos WHERE id = 32").fetchone()[0] == 1
        assert conn.execute("SELECT description FROM creators WHERE id = 10").fetchone()[0] == "changed"
        assert conn.execute("SELECT count(*) FROM migration_rejects").fetchone()[0] == 7
        assert conn.execute("SELECT count(*) FROM video_creators").fetchone()[0] == 212
    for name in first:
        assert second[name].check.counts_match, name
    assert second["creators"].migrated_rows == first["creators"].migrated_rows
