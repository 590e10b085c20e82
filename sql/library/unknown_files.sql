-- Files on disk that no video row points at, with what library_files remembers of them.
SELECT s.path, s.size_bytes, s.mtime, s.directory_id,
       lf.status, lf.size_bytes AS known_size, lf.mtime AS known_mtime
FROM library_scan_files s
LEFT JOIN library_files lf ON lf.path = s.path
WHERE NOT EXISTS (SELECT 1 FROM videos v WHERE v.file_path = s.path)
ORDER BY s.path;
