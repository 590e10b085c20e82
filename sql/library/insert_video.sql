-- A newly found video, with its container facts and content hash.
INSERT INTO videos (file_path, file_name, directory_id, file_size_bytes, file_hash, duration_seconds,
                    width, height, fps, codec, is_available, last_verified_at, indexed_at, created_at, updated_at)
VALUES (%(path)s, %(file_name)s, %(directory_id)s, %(size_bytes)s, %(file_hash)s, %(duration_seconds)s,
        %(width)s, %(height)s, %(fps)s, %(codec)s, true, %(now)s, %(now)s, %(now)s, %(now)s)
ON CONFLICT (file_path) DO UPDATE SET
    file_size_bytes = EXCLUDED.file_size_bytes,
    file_hash = EXCLUDED.file_hash,
    is_available = true,
    last_verified_at = EXCLUDED.last_verified_at,
    updated_at = EXCLUDED.updated_at
RETURNING id;
