-- The creators nearest to face %(embedding)s: the %(k)s nearest creator embeddings through their HNSW index
-- (idx_creator_faces_embedding), best per creator.
SELECT n.creator_id, c.name, max(n.similarity) AS similarity
FROM (
    SELECT e.creator_id, 1 - (e.embedding <=> %(embedding)s::vector) AS similarity
    FROM creator_face_embeddings e
    ORDER BY e.embedding <=> %(embedding)s::vector
    LIMIT %(k)s
) n
JOIN creators c ON c.id = n.creator_id
GROUP BY n.creator_id, c.name
ORDER BY similarity DESC
LIMIT %(limit)s;
