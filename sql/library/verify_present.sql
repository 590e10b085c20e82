-- Videos whose file is on disk: available and verified now. Rows verified since %(stale_before)s are left alone
-- (a scan every 30 s need not rewrite every row). Returns each with its previous availability (`old` is the
-- row as the statement started), so files that came back are told apart.
UPDATE videos v
SET is_available = true,
    last_verified_at = %(now)s,
    updated_at = CASE WHEN old.is_available IS DISTINCT FROM true THEN %(now)s ELSE v.updated_at END
FROM library_scan_files s, videos old
WHERE v.file_path = s.path
  AND old.id = v.id
  AND (old.is_available IS DISTINCT FROM true
       OR old.last_verified_at IS NULL
       OR old.last_verified_at < %(stale_before)s)
RETURNING v.id, old.is_available AS was_available;
