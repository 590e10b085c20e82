-- Legacy table `favorites`, translated from the SQLite schema by face_assets.migration.ddl.
CREATE TABLE IF NOT EXISTS favorites (
    user_id integer,
    video_id integer,
    added_at timestamptz DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id, video_id),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_favorites_user ON favorites (user_id);
CREATE INDEX IF NOT EXISTS idx_favorites_video_id ON favorites (video_id);
