-- Matches waiting for a person (review pending): 'pending' faces with a proposed creator, most confident first.
SELECT d.id, d.video_id, v.title, v.file_name, d.matched_creator_id, c.name, d.match_confidence, d.crop_path,
       d.frame_timestamp
FROM video_face_detections d
JOIN videos v ON v.id = d.video_id
LEFT JOIN creators c ON c.id = d.matched_creator_id
WHERE d.match_status = 'pending' AND d.matched_creator_id IS NOT NULL
ORDER BY d.match_confidence DESC NULLS LAST, d.id
LIMIT %(limit)s;
