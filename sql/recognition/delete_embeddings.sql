DELETE FROM creator_face_embeddings
WHERE id = ANY(%(ids)s::int[]) AND source_type IN ('profile_picture', 'manual');
