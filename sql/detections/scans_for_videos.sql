-- The last face-scan outcome of the videos in a run (a failed frame sampling is recorded here too).
SELECT video_id, status, error
FROM video_face_scans
WHERE video_id = ANY(%(video_ids)s);
