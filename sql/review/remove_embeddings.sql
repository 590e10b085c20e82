-- A decision revoked (a confirmed face rejected or assigned to someone else): the embedding that face gave
-- creator %(creator_ids)s[i] goes away.
DELETE FROM creator_face_embeddings e
USING unnest(%(ids)s::int[], %(creator_ids)s::int[]) AS u(id, creator_id)
WHERE e.creator_id = u.creator_id AND e.source_type = 'video_frame' AND e.source_path = 'detection:' || u.id
RETURNING e.id, e.creator_id;
