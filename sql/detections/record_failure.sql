-- A video the pipeline could not process (unreadable file, missing frames, ...): status 'failed' with the reason.
-- Detections of an earlier successful scan are kept; `frames` and `faces` count what is stored now.
-- Nothing is written for an id that has no `videos` row (the foreign key could not hold).
INSERT INTO video_face_scans (video_id, status, frames, faces, model, provider, seconds_per_frame, error, processed_at)
SELECT v.id, 'failed',
       (SELECT count(*) FROM video_frames f WHERE f.video_id = v.id),
       (SELECT count(*) FROM video_face_detections d WHERE d.video_id = v.id),
       %(model)s, %(provider)s, NULL, %(error)s, CURRENT_TIMESTAMP
FROM videos v
WHERE v.id = %(video_id)s
ON CONFLICT (video_id) DO UPDATE SET
    status = 'failed',
    frames = EXCLUDED.frames,
    faces = EXCLUDED.faces,
    model = EXCLUDED.model,
    provider = EXCLUDED.provider,
    seconds_per_frame = NULL,
    error = EXCLUDED.error,
    processed_at = EXCLUDED.processed_at;
