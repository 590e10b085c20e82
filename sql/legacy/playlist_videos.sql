-- Legacy table `playlist_videos`, translated from the SQLite schema by face_assets.migration.ddl.
CREATE TABLE IF NOT EXISTS playlist_videos (
    playlist_id integer,
    video_id integer,
    position bigint NOT NULL,
    added_at timestamptz DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (playlist_id, video_id),
    FOREIGN KEY (playlist_id) REFERENCES playlists (id) ON DELETE CASCADE,
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_playlist_videos_playlist ON playlist_videos (playlist_id, position);
CREATE INDEX IF NOT EXISTS idx_playlist_videos_video_id ON playlist_videos (video_id);
