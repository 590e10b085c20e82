-- Creator %(id)s.
SELECT c.id, c.name, c.description, c.profile_picture_path, c.is_verified
FROM creators c
WHERE c.id = %(id)s;
