-- The faces of clusters %(ids)s, with their match state.
SELECT d.id, d.video_id, d.cluster_id, d.match_status, d.matched_creator_id
FROM video_face_detections d
WHERE d.cluster_id = ANY(%(ids)s::int[])
ORDER BY d.id;
