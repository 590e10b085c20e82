-- Creators with a profile picture path, but those forgotten (face_assets.review.forget): never embedded again.
SELECT c.id, c.profile_picture_path
FROM creators c
WHERE NULLIF(btrim(c.profile_picture_path), '') IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM forgotten_creators f WHERE f.creator_id = c.id)
ORDER BY c.id;
