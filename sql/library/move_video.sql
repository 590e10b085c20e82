-- A video whose file moved (same content hash, old path gone): same id, new place.
WITH moved AS (
    UPDATE videos
    SET file_path = %(path)s,
        file_name = %(file_name)s,
        directory_id = %(directory_id)s,
        file_size_bytes = %(size_bytes)s,
        is_available = true,
        last_verified_at = %(now)s,
        updated_at = %(now)s
    WHERE id = %(video_id)s
    RETURNING id
)
DELETE FROM library_files lf
USING moved
WHERE lf.path = %(old_path)s AND lf.video_id = moved.id;
