-- Legacy table `video_creators`, translated from the SQLite schema by face_assets.migration.ddl.
CREATE TABLE IF NOT EXISTS video_creators (
    video_id integer,
    creator_id integer,
    PRIMARY KEY (video_id, creator_id),
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE,
    FOREIGN KEY (creator_id) REFERENCES creators (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_video_creators_creator ON video_creators (creator_id);
CREATE INDEX IF NOT EXISTS idx_video_creators_video ON video_creators (video_id);
