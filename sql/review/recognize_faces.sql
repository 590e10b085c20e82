-- The stored faces nearest to face %(embedding)s through the faces' HNSW index (the index's expression), within
-- the videos %(video_ids)s when given (a scope): pgvector's iterative index scan (hnsw.iterative_scan, set by the
-- caller) keeps scanning until enough rows pass the filter. Re-sorted by exact similarity.
SELECT n.id, n.video_id, COALESCE(NULLIF(v.title, ''), v.file_name), n.similarity, n.match_status,
       n.matched_creator_id, c.name
FROM (
    SELECT d.id, d.video_id, d.match_status, d.matched_creator_id, 1 - (d.embedding <=> %(embedding)s::vector) AS similarity
    FROM video_face_detections d
    WHERE %(video_ids)s::int[] IS NULL OR d.video_id = ANY(%(video_ids)s::int[])
    ORDER BY d.embedding::halfvec(512) <=> %(embedding)s::vector::halfvec(512)
    LIMIT %(k)s
) n
JOIN videos v ON v.id = n.video_id
LEFT JOIN creators c ON c.id = n.matched_creator_id
WHERE n.similarity >= %(similarity)s
ORDER BY n.similarity DESC;
