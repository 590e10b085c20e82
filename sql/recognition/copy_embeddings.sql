COPY new_creator_embeddings (creator_id, source_type, source_path, source_fingerprint, quality_score, embedding)
FROM STDIN (FORMAT BINARY)
