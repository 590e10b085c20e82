-- The %(k)s nearest candidate faces of each face in a batch, through the HNSW index idx_video_faces_embedding of ALL
-- faces (one index scan per face: a LATERAL join over the batch, no pairwise join). Used when the candidates are a
-- good share of all faces, and by re-runs (only the faces that changed); run with hnsw.iterative_scan = relaxed_order
-- so that the scan goes on past faces that are not candidates until k candidates are found. A re-run also asks it
-- for more than k + 1 faces: every face within the threshold of a new face, whose lists the new face may enter.
-- The candidate filter is an EXISTS with OFFSET 0 on purpose: PostgreSQL cannot turn it into a join, so the plan
-- stays "index scan ordered by distance, filtered" (a semi-join lets the planner hash-join all candidates and sort
-- them per face instead: a pairwise join in disguise, measured 25x slower when candidates are a tenth of 20,000 faces).
-- The distance filter sits outside the index scan (pgvector's advice).
-- Returns (face, neighbour, distance) with 1 - distance >= %(similarity)s, the face itself and faces of the same frame
-- included (they take places among the k nearest; clustering drops them as neighbours). The distance is the index's
-- own (halfvec): one number decides both the order and the threshold, so the faces within the threshold are always
-- the first of the list, which is what lets a re-run update a list without re-querying it.
SELECT q.id, n.id, n.distance
FROM unnest(%(ids)s::int[]) AS q_ids(id)
JOIN video_face_detections q ON q.id = q_ids.id
CROSS JOIN LATERAL (
    SELECT d.id, d.embedding::halfvec(512) <=> q.embedding::halfvec(512) AS distance
    FROM video_face_detections d
    WHERE EXISTS (SELECT 1 FROM cluster_candidates c WHERE c.id = d.id OFFSET 0)
    ORDER BY d.embedding::halfvec(512) <=> q.embedding::halfvec(512)  -- the index's expression
    LIMIT %(k)s
) n
WHERE 1 - n.distance >= %(similarity)s;
