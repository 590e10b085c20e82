-- The problems recorded by the last creator_embeddings run, with the fingerprint of the picture they were found on.
SELECT creator_id, source_path, reason, source_fingerprint FROM creator_embedding_issues;
