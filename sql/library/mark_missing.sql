-- Videos under a root that is present whose file was not found: unavailable (partitions and faces stay).
-- Skipped: files under a directory that could not be read, and paths that exist but were not followed.
UPDATE videos v
SET is_available = false,
    updated_at = %(now)s
WHERE v.is_available IS DISTINCT FROM false
  AND EXISTS (SELECT 1 FROM unnest(%(root_prefixes)s::text[]) r(prefix) WHERE starts_with(v.file_path, r.prefix))
  AND NOT EXISTS (SELECT 1 FROM unnest(%(unknown_prefixes)s::text[]) u(prefix) WHERE starts_with(v.file_path, u.prefix))
  AND NOT EXISTS (SELECT 1 FROM unnest(%(other_paths)s::text[]) o(path) WHERE o.path = v.file_path)
  AND NOT EXISTS (SELECT 1 FROM library_scan_files s WHERE s.path = v.file_path)
RETURNING v.id;
