-- A model's calibration (JSON, face_assets.recognition.calibration.Calibration), replacing the previous one.
INSERT INTO face_recognition_config (key, value, updated_at) VALUES (%(key)s, %(value)s, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at;
