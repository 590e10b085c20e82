-- Open clusters without a successor: 'dissolved', size 0 (the id is kept as a tombstone, never reused).
UPDATE face_clusters
SET status = 'dissolved', size = 0, n_videos = 0, representative_detection_id = NULL, updated_at = CURRENT_TIMESTAMP
WHERE id = ANY(%(ids)s::int[]) AND status = 'open';
