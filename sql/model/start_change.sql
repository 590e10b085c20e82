-- A new change of model: the target pack (its faces are embedded from nothing: the caller emptied the staging table).
INSERT INTO face_model_change (name, fingerprint, folder) VALUES (%(name)s, %(fingerprint)s, %(folder)s)
ON CONFLICT (id) DO UPDATE
    SET name = EXCLUDED.name, fingerprint = EXCLUDED.fingerprint, folder = EXCLUDED.folder, started_at = now();
