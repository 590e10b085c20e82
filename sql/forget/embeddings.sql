-- Creator embeddings of the forgotten person: every embedding of creator %(creator_id)s (NULL for a cluster:
-- none), and any embedding taken from a forgotten face (learned automatically, or confirmed: 'detection:<id>').
DELETE FROM creator_face_embeddings e
WHERE e.creator_id = %(creator_id)s
   OR e.learned_from IN (SELECT id FROM forget_faces)
   OR (e.source_type = 'video_frame' AND e.source_path IN (SELECT 'detection:' || id FROM forget_faces))
RETURNING e.id, e.creator_id, e.source_type, e.source_path;
