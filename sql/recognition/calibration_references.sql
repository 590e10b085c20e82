-- Calibration from the library: creators' reference faces from pictures (profile pictures, reference images).
-- Confirmed video faces ('video_frame') are left out: they are the faces being scored.
SELECT creator_id, embedding
FROM creator_face_embeddings
WHERE source_type IN ('profile_picture', 'manual')
ORDER BY creator_id, id;
