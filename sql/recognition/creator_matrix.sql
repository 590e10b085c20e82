-- Every creator embedding, grouped by creator (the matcher reduces per creator over contiguous rows).
SELECT creator_id, embedding
FROM creator_face_embeddings
ORDER BY creator_id, id;
