-- Match state of the faces of %(video_ids)s and of the faces %(ids)s (to report what a decision changed).
SELECT d.id, d.video_id, d.match_status, d.matched_creator_id, d.match_confidence
FROM video_face_detections d
WHERE d.video_id = ANY(%(video_ids)s::int[]) OR d.id = ANY(%(ids)s::int[]);
