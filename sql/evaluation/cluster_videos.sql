-- The videos whose faces make up each cluster (among the given videos).
SELECT cluster_id, array_agg(DISTINCT video_id ORDER BY video_id)
FROM video_face_detections
WHERE cluster_id IS NOT NULL AND video_id = ANY(%s)
GROUP BY cluster_id
ORDER BY cluster_id
