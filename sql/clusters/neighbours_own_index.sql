-- The k nearest candidate faces of each face in a batch, through the candidates' own HNSW index
-- (sql/clusters/own_index.sql): one index scan per face, no filter, no pairwise join. Same output as neighbours.sql.
SELECT q.id, n.id, n.distance
FROM unnest(%(ids)s::int[]) AS q_ids(id)
JOIN cluster_faces q ON q.id = q_ids.id
CROSS JOIN LATERAL (
    SELECT c.id, c.embedding::halfvec(512) <=> q.embedding::halfvec(512) AS distance
    FROM cluster_faces c
    ORDER BY c.embedding::halfvec(512) <=> q.embedding::halfvec(512)  -- the index's expression
    LIMIT %(k)s
) n
WHERE 1 - n.distance >= %(similarity)s;
