-- Which of creators %(ids)s were forgotten, and when.
SELECT f.creator_id, c.name, f.forgotten_at
FROM forgotten_creators f
LEFT JOIN creators c ON c.id = f.creator_id
WHERE f.creator_id = ANY(%(ids)s::int[])
ORDER BY f.creator_id;
