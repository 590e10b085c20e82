-- The video files found on disk by this scan (filled with COPY), dropped at the end of the scan's transaction.
CREATE TEMP TABLE IF NOT EXISTS library_scan_files (
    path TEXT PRIMARY KEY,
    size_bytes BIGINT NOT NULL,
    mtime DOUBLE PRECISION NOT NULL,
    directory_id INTEGER NOT NULL
) ON COMMIT DROP;
TRUNCATE library_scan_files;
