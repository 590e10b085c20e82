-- Creators with a profile picture path.
SELECT id, profile_picture_path
FROM creators
WHERE NULLIF(btrim(profile_picture_path), '') IS NOT NULL
ORDER BY id;
