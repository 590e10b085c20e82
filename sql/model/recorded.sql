-- The model the database's embeddings came from (face_assets.recognition.model_record).
SELECT name, fingerprint, source, recorded_at FROM face_model;
