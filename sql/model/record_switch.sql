-- The database's embeddings now come from the new model.
INSERT INTO face_model (name, fingerprint, source, recorded_at)
VALUES (%(name)s, %(fingerprint)s, 'reembed', now())
ON CONFLICT (id) DO UPDATE
    SET name = EXCLUDED.name, fingerprint = EXCLUDED.fingerprint, source = EXCLUDED.source,
        recorded_at = EXCLUDED.recorded_at;
