-- A face_recognition_config row set by `face-assets calibrate --apply`: a model's calibration (JSON,
-- face_assets.recognition.calibration.Calibration) or a setting it suggests, replacing the previous value.
INSERT INTO face_recognition_config (key, value, updated_at) VALUES (%(key)s, %(value)s, now())
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at;
