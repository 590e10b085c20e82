-- Creator embeddings added or changed after %(since)s, grouped by creator; `added` tells new rows from changed ones.
SELECT id, creator_id, embedding, created_at > %(since)s::timestamptz AS added
FROM creator_face_embeddings
WHERE GREATEST(created_at, updated_at) > %(since)s::timestamptz
ORDER BY creator_id, id;
