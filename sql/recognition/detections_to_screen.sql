-- Undecided 'pending' and 'unmatched' faces, with their current similarity, for the rematch job's screen.
SELECT id, match_status, match_confidence, embedding
FROM video_face_detections
WHERE decided_at IS NULL AND match_status IN ('pending', 'unmatched')
ORDER BY id;
