-- Calibration from the library: (face, creator) pairs a person said are not the same person.
SELECT d.id, d.video_id, r.creator_id, d.embedding
FROM face_match_rejections r
JOIN video_face_detections d ON d.id = r.detection_id
ORDER BY d.id, r.creator_id;
