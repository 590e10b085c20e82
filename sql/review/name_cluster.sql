-- A person named cluster %(id)s: it becomes creator %(creator_id)s ('named': clustering never touches it again).
UPDATE face_clusters
SET status = 'named', creator_id = %(creator_id)s, updated_at = CURRENT_TIMESTAMP
WHERE id = %(id)s;
