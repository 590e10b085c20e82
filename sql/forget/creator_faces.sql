-- The faces of creator %(creator_id)s: matched (auto-tagged), proposed for review or confirmed as them, and every face
-- one of their references came from (learned automatically: learned_from; confirmed: source_path 'detection:<id>').
-- A face a person rejected for them is not theirs: it stays (forget/creator_rest.sql reopens it).
INSERT INTO forget_faces (id)
SELECT d.id
FROM video_face_detections d
WHERE d.matched_creator_id = %(creator_id)s AND d.match_status IN ('matched', 'pending', 'manual')
UNION
SELECT e.learned_from
FROM creator_face_embeddings e
WHERE e.creator_id = %(creator_id)s AND e.learned_from IS NOT NULL
UNION
SELECT d.id
FROM creator_face_embeddings e
JOIN video_face_detections d
  ON d.id = CASE WHEN e.source_path ~ '^detection:[0-9]{1,9}$' THEN substr(e.source_path, 11)::int END
WHERE e.creator_id = %(creator_id)s AND e.source_type = 'video_frame'
ON CONFLICT (id) DO NOTHING;
