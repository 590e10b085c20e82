-- Every video whose file this scan found: the partitions. `discovered`: registered by the scanner
-- (library_files), as opposed to known from the legacy database.
SELECT v.id, v.file_path, v.file_hash,
       coalesce(lf.status = 'registered' AND lf.video_id = v.id, false) AS discovered
FROM library_scan_files s
JOIN videos v ON v.file_path = s.path
LEFT JOIN library_files lf ON lf.path = s.path
WHERE coalesce(v.is_deleted, false) = false
ORDER BY v.id;
