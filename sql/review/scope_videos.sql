-- The videos under a library root or path prefix %(prefix)s (the folder itself, or the file).
SELECT v.id FROM videos v
WHERE v.file_path = %(prefix)s OR starts_with(v.file_path, rtrim(%(prefix)s, '/') || '/');
