-- One row per schema upgrade applied to this database (face_assets.db.schema_upgrade): the version, its name, the
-- face_assets release that applied it and when.
CREATE TABLE IF NOT EXISTS face_schema_versions (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    face_assets_version TEXT NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
