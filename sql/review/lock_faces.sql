-- The faces a decision is about, locked until the transaction ends (a second decision on the same faces waits here,
-- then sees the first one's result), with what is decided about them now.
SELECT d.id, d.video_id, d.match_status, d.matched_creator_id, c.name, d.match_confidence, d.decided_at
FROM video_face_detections d
LEFT JOIN creators c ON c.id = d.matched_creator_id
WHERE d.id = ANY(%(ids)s::int[])
ORDER BY d.id
FOR UPDATE OF d;
