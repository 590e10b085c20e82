-- Every watched directory; the scan uses the active ones as roots and the others to find a root's row.
SELECT id, path, coalesce(is_active, true) AS is_active
FROM watched_directories
ORDER BY id;
