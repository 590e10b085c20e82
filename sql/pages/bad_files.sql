-- Files under the library roots kept out with an error (empty, truncated, not a video), newest first.
SELECT lf.path, lf.error, lf.checked_at
FROM library_files lf
WHERE lf.status = 'error'
ORDER BY lf.checked_at DESC NULLS LAST, lf.path
LIMIT %(limit)s;
