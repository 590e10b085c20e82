-- Cluster %(other)s goes into cluster %(into)s: its faces move, it becomes 'merged' (merged_into, size 0).
WITH moved AS (
    UPDATE video_face_detections SET cluster_id = %(into)s WHERE cluster_id = %(other)s RETURNING id
)
UPDATE face_clusters
SET status = 'merged', merged_into = %(into)s, size = 0, n_videos = 0, representative_detection_id = NULL,
    updated_at = CURRENT_TIMESTAMP
WHERE id = %(other)s
RETURNING (SELECT count(*) FROM moved);
