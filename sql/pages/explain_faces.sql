-- Why faces %(ids)s were proposed, for a page of the review queue in one query: the embedding of the proposed
-- creator each face matched best (which reference) and the best other creator (the runner-up), looked for among
-- the 20 nearest creator embeddings through the HNSW index idx_creator_faces_embedding (no scan of every creator
-- per face). face_assets.review.queries.explain_face gives the exact, complete answer for one face.
SELECT d.id,
       ref.id AS reference_id, ref.source_type AS reference_type, ref.source_path AS reference_path,
       ref.similarity AS reference_similarity,
       runner.creator_id AS runner_up_id, rc.name AS runner_up, runner.similarity AS runner_up_similarity
FROM video_face_detections d
LEFT JOIN LATERAL (
    SELECT e.id, e.source_type, e.source_path, 1 - (e.embedding <=> d.embedding) AS similarity
    FROM creator_face_embeddings e
    WHERE e.creator_id = d.matched_creator_id
    ORDER BY e.embedding <=> d.embedding
    LIMIT 1
) ref ON true
LEFT JOIN LATERAL (
    SELECT n.creator_id, max(1 - (n.embedding <=> d.embedding)) AS similarity
    FROM (SELECT e.creator_id, e.embedding FROM creator_face_embeddings e
          ORDER BY e.embedding <=> d.embedding LIMIT 20) n
    WHERE n.creator_id IS DISTINCT FROM d.matched_creator_id
    GROUP BY n.creator_id
    ORDER BY 2 DESC
    LIMIT 1
) runner ON true
LEFT JOIN creators rc ON rc.id = runner.creator_id
WHERE d.id = ANY(%(ids)s::int[]);
