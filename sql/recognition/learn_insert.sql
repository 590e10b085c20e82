-- Faces %(ids)s join their creator's references as learned 'video_frame' embeddings (source_path 'learned:<id>').
INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path, quality_score, learned_from)
SELECT d.matched_creator_id, d.embedding, 'video_frame', 'learned:' || d.id, d.quality_score, d.id
FROM video_face_detections d
WHERE d.id = ANY(%(ids)s::int[]) AND d.matched_creator_id IS NOT NULL
ON CONFLICT (creator_id, source_type, source_path) DO NOTHING
RETURNING id;
