-- The references of %(creator_ids)s, with whether each was learned automatically.
SELECT creator_id, learned_from IS NOT NULL AS learned, embedding
FROM creator_face_embeddings
WHERE creator_id = ANY(%(creator_ids)s::int[])
ORDER BY creator_id, id;
