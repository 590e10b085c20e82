-- Which of creators %(ids)s exist, and whether each was forgotten (face_assets.review.forget).
SELECT c.id, EXISTS (SELECT 1 FROM forgotten_creators f WHERE f.creator_id = c.id) AS forgotten
FROM creators c
WHERE c.id = ANY(%(ids)s::int[]);
