-- Known faces taken from video faces (confirmed: 'detection:<id>', learned: 'learned:<id>') are copies of the face's
-- embedding: they take its new one. Returns how many.
UPDATE creator_face_embeddings e
SET embedding = d.embedding, updated_at = now()
FROM video_face_detections d
WHERE e.source_type = 'video_frame' AND d.id = substring(e.source_path FROM ':([0-9]+)$')::int;
