-- Legacy table `creator_studios`, translated from the SQLite schema by face_assets.migration.ddl.
CREATE TABLE IF NOT EXISTS creator_studios (
    creator_id integer,
    studio_id integer,
    added_at timestamptz DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (creator_id, studio_id),
    FOREIGN KEY (creator_id) REFERENCES creators (id) ON DELETE CASCADE,
    FOREIGN KEY (studio_id) REFERENCES studios (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_creator_studios_creator ON creator_studios (creator_id);
CREATE INDEX IF NOT EXISTS idx_creator_studios_studio ON creator_studios (studio_id);
