-- The sampled frames of video %(video_id)s.
SELECT f.frame_index, f.timestamp_seconds, f.width, f.height
FROM video_frames f
WHERE f.video_id = %(video_id)s
ORDER BY f.frame_index;
