COPY library_scan_files (path, size_bytes, mtime, directory_id) FROM STDIN
