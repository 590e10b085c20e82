-- One file's state (executemany): 'waiting' until size and mtime held still over two scans, then
-- 'registered' (video_id) or 'error' (error text; not retried until the size or mtime changes).
INSERT INTO library_files (path, size_bytes, mtime, status, video_id, error, first_seen_at, checked_at)
VALUES (%(path)s, %(size_bytes)s, %(mtime)s, %(status)s, %(video_id)s, %(error)s, %(now)s, %(now)s)
ON CONFLICT (path) DO UPDATE SET
    size_bytes = EXCLUDED.size_bytes,
    mtime = EXCLUDED.mtime,
    status = EXCLUDED.status,
    video_id = EXCLUDED.video_id,
    error = EXCLUDED.error,
    checked_at = EXCLUDED.checked_at;
