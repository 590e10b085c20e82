-- The sampled frames of the videos in a run (asset `face_detections`), in frame order.
SELECT video_id, frame_index, timestamp_seconds, path, width, height
FROM video_frames
WHERE video_id = ANY(%(video_ids)s)
ORDER BY video_id, frame_index;
