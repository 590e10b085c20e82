-- Videos whose file is not where the row says, with the size of a file just found: it may have moved there.
SELECT v.id, v.file_path, v.file_size_bytes, v.file_hash
FROM videos v
WHERE v.file_size_bytes = ANY(%(sizes)s::bigint[])
  AND v.file_hash IS NOT NULL
  AND coalesce(v.is_deleted, false) = false
  AND NOT EXISTS (SELECT 1 FROM library_scan_files s WHERE s.path = v.file_path)
ORDER BY v.id;
