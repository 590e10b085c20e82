-- Video %(video_id)s: title, file, whether it is available, its face scan (status, error) and library file error.
SELECT v.id, COALESCE(NULLIF(v.title, ''), v.file_name), v.file_path, v.is_available, v.duration_seconds,
       s.status, s.frames, s.faces, s.error, s.processed_at, lf.error
FROM videos v
LEFT JOIN video_face_scans s ON s.video_id = v.id
LEFT JOIN LATERAL (
    SELECT f.error FROM library_files f WHERE f.video_id = v.id AND f.error IS NOT NULL LIMIT 1
) lf ON true
WHERE v.id = %(video_id)s;
