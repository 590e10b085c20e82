-- The embeddings creator_embeddings owns: those of profile pictures and reference images (never 'video_frame').
SELECT id, creator_id, source_type, source_path, source_fingerprint
FROM creator_face_embeddings
WHERE source_type IN ('profile_picture', 'manual');
