-- "Videos that may contain this creator" (the design's query, through the faces' HNSW index): the %(k)s faces
-- nearest to each of the creator's best %(refs)s known faces (profile picture first; index order by the index's
-- expression, no filter inside so the plan stays the index scan), kept at cosine similarity >= %(similarity)s, in
-- videos not tagged with the creator yet, without faces a person already rejected for the creator.
SELECT n.video_id, COALESCE(NULLIF(v.title, ''), v.file_name), max(n.similarity) AS best, count(DISTINCT n.id),
       (array_agg(n.id ORDER BY n.similarity DESC))[1] AS best_face
FROM (
    SELECT e.embedding
    FROM creator_face_embeddings e
    WHERE e.creator_id = %(id)s
    ORDER BY (e.source_type = 'profile_picture') DESC, e.quality_score DESC NULLS LAST, e.id
    LIMIT %(refs)s
) q
CROSS JOIN LATERAL (
    SELECT d.id, d.video_id, d.match_status, d.matched_creator_id, 1 - (d.embedding <=> q.embedding) AS similarity
    FROM video_face_detections d
    ORDER BY d.embedding::halfvec(512) <=> q.embedding::halfvec(512)
    LIMIT %(k)s
) n
JOIN videos v ON v.id = n.video_id
WHERE n.similarity >= %(similarity)s
  AND NOT (n.match_status = 'rejected' AND n.matched_creator_id = %(id)s)
  AND NOT EXISTS (SELECT 1 FROM video_creators vc WHERE vc.video_id = n.video_id AND vc.creator_id = %(id)s)
GROUP BY n.video_id, v.title, v.file_name
ORDER BY best DESC
LIMIT %(limit)s;
