-- The videos of the partitions in a run (asset `sampled_frames`): where the file is and how long it lasts.
SELECT id, file_path, duration_seconds
FROM videos
WHERE id = ANY(%(video_ids)s);
