-- Calibration from the library: faces a person said are a creator (confirmed or assigned: status 'manual').
SELECT d.id, d.video_id, d.matched_creator_id, d.embedding
FROM video_face_detections d
WHERE d.match_status = 'manual' AND d.matched_creator_id IS NOT NULL
ORDER BY d.id;
