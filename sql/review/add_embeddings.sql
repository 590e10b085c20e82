-- Confirmed faces become known faces of their creator: one 'video_frame' embedding per face, source_path
-- 'detection:<id>' (idempotent: a second confirmation refreshes the same row).
INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path, quality_score)
SELECT d.matched_creator_id, d.embedding, 'video_frame', 'detection:' || d.id, d.quality_score
FROM video_face_detections d
WHERE d.id = ANY(%(ids)s::int[]) AND d.match_status = 'manual' AND d.matched_creator_id IS NOT NULL
ON CONFLICT (creator_id, source_type, source_path) DO UPDATE
    SET embedding = EXCLUDED.embedding, quality_score = EXCLUDED.quality_score, updated_at = CURRENT_TIMESTAMP
RETURNING id, creator_id;
