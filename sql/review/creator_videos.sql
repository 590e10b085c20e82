-- The videos tagged with creator %(id)s, with the tag's source (legacy, manual, face_recognition + confidence).
SELECT vc.video_id, COALESCE(NULLIF(v.title, ''), v.file_name), vc.source, vc.confidence
FROM video_creators vc
JOIN videos v ON v.id = vc.video_id
WHERE vc.creator_id = %(id)s
ORDER BY vc.video_id
LIMIT %(limit)s;
