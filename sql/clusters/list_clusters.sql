-- Clusters with one of %(statuses)s, largest first: id, status, size, n_videos, representative face (id, crop),
-- the creator a named cluster became, the cluster a merged one went into.
SELECT c.id, c.status, c.size, c.n_videos, c.representative_detection_id, d.crop_path, c.creator_id, cr.name,
       c.merged_into, c.updated_at
FROM face_clusters c
LEFT JOIN video_face_detections d ON d.id = c.representative_detection_id
LEFT JOIN creators cr ON cr.id = c.creator_id
WHERE c.status = ANY(%(statuses)s::text[])
ORDER BY c.size DESC, c.id
LIMIT %(limit)s;
