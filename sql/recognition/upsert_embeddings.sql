-- One statement for all new and re-embedded pictures: a changed picture replaces its row's embedding (id kept).
INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path, source_fingerprint, quality_score)
SELECT creator_id, embedding, source_type, source_path, source_fingerprint, quality_score
FROM new_creator_embeddings
ON CONFLICT (creator_id, source_type, source_path) DO UPDATE
    SET embedding = EXCLUDED.embedding,
        source_fingerprint = EXCLUDED.source_fingerprint,
        quality_score = EXCLUDED.quality_score,
        updated_at = now()
RETURNING (xmax = 0) AS inserted;
