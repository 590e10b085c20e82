-- Why face %(id)s got its proposal: its best creators (exact, over every creator embedding: a small table) with
-- the reference that matched each, best first.
SELECT DISTINCT ON (e.creator_id) e.creator_id, c.name, 1 - (e.embedding <=> d.embedding) AS similarity, e.id,
       e.source_type, e.source_path
FROM video_face_detections d
CROSS JOIN creator_face_embeddings e
JOIN creators c ON c.id = e.creator_id
WHERE d.id = %(id)s
ORDER BY e.creator_id, e.embedding <=> d.embedding;
