"""Dagster wiring of the application database's care: `database_backup_job` and its nightly `database_backup`
schedule; the logic (pg_dump, retention, restore) is in face_assets.db.backup."""
