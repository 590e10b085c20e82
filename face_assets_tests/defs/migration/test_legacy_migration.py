"""The migration assets, run through Dagster on a legacy database the project has never seen."""

import shutil
import sqlite3
from datetime import datetime, timezone

import psycopg
import pytest
from dagster import AssetKey

from face_assets_tests.conftest import SCHEMA_ONLY_DB, require_fixtures


@pytest.fixture
def unseen_legacy_db(tmp_path):
    """The legacy schema with an extra column, an extra table, and rows with every quirk."""
    require_fixtures()
    path = tmp_path / "unseen.db"
    shutil.copyfile(SCHEMA_ONLY_DB, path)
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            ALTER TABLE videos ADD COLUMN stars INTEGER;
            CREATE TABLE watch_notes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
                note TEXT,
                noted_at DATETIME DEFAULT CURRENT_TIMESTAMP
            );
            CREATE INDEX idx_watch_notes_video ON watch_notes(video_id);
            INSERT INTO watched_directories (id, path, is_active) VALUES (1, '/old/mount/videos', 1);
            INSERT INTO videos (id, file_path, file_name, directory_id, file_size_bytes, duration_seconds, width,
                                height, is_available, created_at, stars)
            VALUES (1, '/old/mount/videos/a.mp4', 'a.mp4', 1, 5000000000, 'about ten minutes', 1920, 1080, 1,
                    '2024-03-01 10:00:00', 5),
                   (2, '/old/mount/videos/b.mp4', 'b.mp4', 1, 3000000000, 61.5, 'unknown', 720, 0,
                    '2024-03-02T11:30:00.250Z', NULL);
            INSERT INTO creators (id, name, is_verified) VALUES (40, 'Ana', 1), (41, 'ana', 0);
            INSERT INTO video_creators VALUES (1, 40), (2, 41), (2, 77);
            INSERT INTO watch_notes (id, video_id, note, noted_at)
            VALUES (1, 1, 'good', '2024-05-05T05:05:05.000Z'), (2, 99, 'orphan', '2024-05-06 06:06:06');
            UPDATE sqlite_sequence SET seq = 60 WHERE name = 'creators';
            INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('creators', 60);
            """
        )
    return path


def test_unseen_legacy_database_migrates_through_dagster(unseen_legacy_db, fresh_db, dagster_instance, monkeypatch):
    monkeypatch.setenv("FACE_ASSETS_LEGACY_DB", str(unseen_legacy_db))
    monkeypatch.setenv("FACE_ASSETS_PATH_MAP", "/old/mount=/new/place")
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    from face_assets.cli.runner import run_pipeline
    from face_assets.definitions import build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    notes = AssetKey(["legacy", "watch_notes"])
    assert notes in graph.get_all_asset_keys()
    assert AssetKey(["legacy", "videos"]) in graph.get(notes).parent_keys
    assert graph.get(notes).group_name == "legacy_migration"
    assert len([k for k in graph.get_all_asset_keys() if k.path[0] == "legacy"]) == 37

    assert run_pipeline(dagster_instance, selection="group:legacy_migration")
    checks = [
        e.dagster_event.asset_check_evaluation_data
        for e in dagster_instance.all_logs(dagster_instance.get_runs()[0].run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert len(checks) == 2 * 37 and all(c.passed for c in checks)

    with psycopg.connect(fresh_db) as conn:
        assert conn.execute(
            "SELECT id, file_size_bytes, duration_seconds, width, stars, is_available, created_at"
            " FROM videos ORDER BY id"
        ).fetchall() == [
            (1, 5000000000, None, 1920, 5, True, datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)),
            (2, 3000000000, 61.5, None, None, False, datetime(2024, 3, 2, 11, 30, 0, 250000, tzinfo=timezone.utc)),
        ]
        assert conn.execute("SELECT file_path FROM videos WHERE id = 1").fetchone()[0] == "/new/place/videos/a.mp4"
        assert conn.execute("SELECT path FROM watched_directories").fetchone()[0] == "/new/place/videos"
        assert conn.execute("SELECT id, note FROM watch_notes").fetchall() == [(1, "good")]
        assert conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'watch_notes' AND indexname LIKE 'idx_%'"
        ).fetchall() == [("idx_watch_notes_video",)]
        assert conn.execute("SELECT is_verified FROM creators ORDER BY id").fetchall() == [(True,), (False,)]
        rejects = dict(
            conn.execute(
                "SELECT table_name || ':' || disposition, count(*) FROM migration_rejects GROUP BY 1"
            ).fetchall()
        )
        assert rejects == {"videos:value_nulled": 2, "video_creators:row_rejected": 1, "watch_notes:row_rejected": 1}
        # AUTOINCREMENT never reuses an id: the next creator comes after sqlite_sequence (60), not max(id) (41).
        new_id = conn.execute("INSERT INTO creators (name) VALUES ('New') RETURNING id").fetchone()[0]
        assert new_id == 61
