-- Undecided 'pending' faces proposed for one of %(creator_ids)s (whose embeddings changed: their similarity may drop).
SELECT id FROM video_face_detections
WHERE decided_at IS NULL AND match_status = 'pending' AND matched_creator_id = ANY(%(creator_ids)s::int[]);
