-- What is decided about faces %(ids)s now (sql/review/lock_faces.sql without the lock).
SELECT d.id, d.video_id, d.match_status, d.matched_creator_id, c.name, d.match_confidence, d.decided_at
FROM video_face_detections d
LEFT JOIN creators c ON c.id = d.matched_creator_id
WHERE d.id = ANY(%(ids)s::int[])
ORDER BY d.id;
