-- Undecided 'pending' and 'unmatched' faces with their current status and similarity, for the rematch job's
-- screen; their embeddings come from detections_to_match.sql (the same faces, through COPY).
SELECT id, match_status, match_confidence
FROM video_face_detections
WHERE decided_at IS NULL AND match_status IN ('pending', 'unmatched');
