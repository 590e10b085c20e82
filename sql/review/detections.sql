-- The faces a review command names, with what is decided about them now.
SELECT d.id, d.video_id, d.match_status, d.matched_creator_id, d.match_confidence, d.decided_at, d.cluster_id
FROM video_face_detections d
WHERE d.id = ANY(%(ids)s::int[])
ORDER BY d.id;
