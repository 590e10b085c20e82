-- Undecided faces near the faces %(ids)s (whose embeddings a creator just gained or lost), through the HNSW index
-- idx_video_faces_embedding: the %(k)s nearest faces of each (no filter inside, so the plan is always the index
-- scan), kept when undecided and at cosine similarity >= %(similarity)s (match_threshold: the faces whose match can
-- change). These are re-matched at once.
SELECT DISTINCT n.id, n.video_id
FROM video_face_detections q
CROSS JOIN LATERAL (
    SELECT d.id, d.video_id, d.decided_at, d.match_status, 1 - (d.embedding <=> q.embedding) AS similarity
    FROM video_face_detections d
    ORDER BY d.embedding::halfvec(512) <=> q.embedding::halfvec(512)  -- the index's expression
    LIMIT %(k)s
) n
WHERE q.id = ANY(%(ids)s::int[])
  AND n.similarity >= %(similarity)s
  AND n.decided_at IS NULL AND n.match_status IN ('pending', 'matched', 'unmatched');
