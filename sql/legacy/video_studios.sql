-- Legacy table `video_studios`, translated from the SQLite schema by face_assets.migration.ddl.
CREATE TABLE IF NOT EXISTS video_studios (
    video_id integer,
    studio_id integer,
    PRIMARY KEY (video_id, studio_id),
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE,
    FOREIGN KEY (studio_id) REFERENCES studios (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_video_studios_studio ON video_studios (studio_id);
CREATE INDEX IF NOT EXISTS idx_video_studios_video ON video_studios (video_id);
