-- A video the face engine processed (faces = 0 is "processed, no faces"; no row at all is "not processed").
INSERT INTO video_face_scans (video_id, status, frames, faces, model, provider, seconds_per_frame, error, processed_at)
VALUES (%(video_id)s, 'processed', %(frames)s, %(faces)s, %(model)s, %(provider)s, %(seconds_per_frame)s, NULL,
        CURRENT_TIMESTAMP)
ON CONFLICT (video_id) DO UPDATE SET
    status = 'processed',
    frames = EXCLUDED.frames,
    faces = EXCLUDED.faces,
    model = EXCLUDED.model,
    provider = EXCLUDED.provider,
    seconds_per_frame = EXCLUDED.seconds_per_frame,
    error = NULL,
    processed_at = EXCLUDED.processed_at;
