-- Legacy table `video_tags`, translated from the SQLite schema by face_assets.migration.ddl.
CREATE TABLE IF NOT EXISTS video_tags (
    video_id integer,
    tag_id integer,
    PRIMARY KEY (video_id, tag_id),
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE,
    FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_video_tags_tag ON video_tags (tag_id);
CREATE INDEX IF NOT EXISTS idx_video_tags_video ON video_tags (video_id);
