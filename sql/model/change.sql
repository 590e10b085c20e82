-- The change of model in progress, if any (face_assets.recognition.reembed).
SELECT name, fingerprint, folder, started_at FROM face_model_change;
