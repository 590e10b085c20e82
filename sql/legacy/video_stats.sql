-- Legacy table `video_stats`, translated from the SQLite schema by face_assets.migration.ddl.
CREATE TABLE IF NOT EXISTS video_stats (
    user_id integer,
    video_id integer,
    play_count bigint DEFAULT 0,
    total_watch_seconds double precision DEFAULT 0,
    session_watch_seconds double precision DEFAULT 0,
    session_play_counted boolean DEFAULT false,
    last_position_seconds double precision,
    last_played_at timestamptz,
    last_watch_at timestamptz,
    created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamptz DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id, video_id),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_video_stats_last_played ON video_stats (last_played_at);
CREATE INDEX IF NOT EXISTS idx_video_stats_user ON video_stats (user_id);
CREATE INDEX IF NOT EXISTS idx_video_stats_video ON video_stats (video_id);
