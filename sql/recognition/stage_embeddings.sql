CREATE TEMP TABLE IF NOT EXISTS new_creator_embeddings (
    creator_id INTEGER NOT NULL,
    source_type TEXT NOT NULL,
    source_path TEXT NOT NULL,
    source_fingerprint TEXT NOT NULL,
    quality_score REAL,
    embedding vector(512) NOT NULL
) ON COMMIT DROP;
