-- The k nearest candidate faces of each face in a batch, through the HNSW index idx_video_faces_embedding of ALL
-- faces (one index scan per face: a LATERAL join over the batch, no pairwise join). Used when the candidates are a
-- good share of all faces; run with hnsw.iterative_scan = relaxed_order so that the scan goes on past faces that
-- are not candidates until k candidates are found.
-- The candidate filter is an EXISTS with OFFSET 0 on purpose: PostgreSQL cannot turn it into a join, so the plan
-- stays "index scan ordered by distance, filtered" (a semi-join lets the planner hash-join all candidates and sort
-- them per face instead: a pairwise join in disguise, measured 25x slower when candidates are a tenth of 20,000 faces).
-- The distance filter sits outside the index scan (pgvector's advice). The face itself and faces of the same frame
-- (two faces in one frame are two people) are not neighbours.
-- Returns (face, neighbour, cosine similarity) with similarity >= %(similarity)s.
SELECT q.id, n.id, n.similarity
FROM unnest(%(ids)s::int[]) AS q_ids(id)
JOIN video_face_detections q ON q.id = q_ids.id
CROSS JOIN LATERAL (
    SELECT d.id, d.video_id, d.frame_index, 1 - (d.embedding <=> q.embedding) AS similarity
    FROM video_face_detections d
    WHERE EXISTS (SELECT 1 FROM cluster_candidates c WHERE c.id = d.id OFFSET 0)
    ORDER BY d.embedding::halfvec(512) <=> q.embedding::halfvec(512)  -- the index's expression
    LIMIT %(k)s
) n
WHERE n.similarity >= %(similarity)s
  AND NOT (n.video_id = q.video_id AND n.frame_index = q.frame_index);
