-- Duration (seconds) and file of %(video_ids)s; the duration falls back to the last sampled frame's time.
SELECT v.id, COALESCE(NULLIF(v.duration_seconds, 0),
                      (SELECT max(f.timestamp_seconds) FROM video_frames f WHERE f.video_id = v.id)),
       v.file_path
FROM videos v
WHERE v.id = ANY(%(video_ids)s::int[]);
