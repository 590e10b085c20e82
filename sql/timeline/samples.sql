-- The sampled frames of %(video_ids)s with their faces (face_assets.recognition.timeline: tracks, adaptive sampling):
-- one row per face, or one row with NULL face columns for a frame without a face; in time order. A face whose frame
-- row is gone (a database from before video_frames kept every frame) still counts, at its own timestamp.
WITH frames AS (
    SELECT f.video_id, f.frame_index, f.timestamp_seconds
    FROM video_frames f
    WHERE f.video_id = ANY(%(video_ids)s::int[])
    UNION
    SELECT d.video_id, d.frame_index, min(d.frame_timestamp)::float8
    FROM video_face_detections d
    WHERE d.video_id = ANY(%(video_ids)s::int[])
      AND NOT EXISTS (SELECT 1 FROM video_frames f WHERE f.video_id = d.video_id AND f.frame_index = d.frame_index)
    GROUP BY d.video_id, d.frame_index
)
SELECT f.video_id, f.frame_index, f.timestamp_seconds, d.id, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height,
       d.embedding::real[]
FROM frames f
LEFT JOIN video_face_detections d ON d.video_id = f.video_id AND d.frame_index = f.frame_index
ORDER BY f.video_id, f.timestamp_seconds, f.frame_index, d.id;
