-- Videos whose face scan failed, with the error, newest first.
SELECT s.video_id, COALESCE(NULLIF(v.title, ''), v.file_name), s.error, s.processed_at
FROM video_face_scans s
JOIN videos v ON v.id = s.video_id
WHERE s.status = 'failed'
ORDER BY s.processed_at DESC NULLS LAST, s.video_id
LIMIT %(limit)s;
