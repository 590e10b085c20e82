-- A person takes back the decision on faces %(ids)s: undecided again ('pending', no creator), for matching to redo.
UPDATE video_face_detections
SET match_status = 'pending', matched_creator_id = NULL, match_confidence = NULL, decided_at = NULL
WHERE id = ANY(%(ids)s::int[])
RETURNING id, video_id;
