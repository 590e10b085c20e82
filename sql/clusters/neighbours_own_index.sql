-- The k nearest candidate faces of each face in a batch, through the candidates' own HNSW index
-- (sql/clusters/own_index.sql): one index scan per face, no filter, no pairwise join. Same output as neighbours.sql.
SELECT q.id, n.id, n.similarity
FROM unnest(%(ids)s::int[]) AS q_ids(id)
JOIN cluster_faces q ON q.id = q_ids.id
CROSS JOIN LATERAL (
    SELECT c.id, c.video_id, c.frame_index, 1 - (c.embedding <=> q.embedding) AS similarity
    FROM cluster_faces c
    ORDER BY c.embedding::halfvec(512) <=> q.embedding::halfvec(512)  -- the index's expression
    LIMIT %(k)s
) n
WHERE n.similarity >= %(similarity)s
  AND NOT (n.video_id = q.video_id AND n.frame_index = q.frame_index);
