-- Legacy table `app_settings`, translated from the SQLite schema by face_assets.migration.ddl.
CREATE TABLE IF NOT EXISTS app_settings (
    key text,
    value text NOT NULL,
    updated_at timestamptz DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (key)
);
