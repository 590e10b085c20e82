-- The videos of the confirmed faces %(ids)s get their creator as a 'manual' tag, unless tagged already (a legacy,
-- manual or face_recognition tag stays as it is).
INSERT INTO video_creators (video_id, creator_id, source, confidence)
SELECT DISTINCT d.video_id, d.matched_creator_id, 'manual', NULL::real
FROM video_face_detections d
WHERE d.id = ANY(%(ids)s::int[]) AND d.match_status = 'manual' AND d.matched_creator_id IS NOT NULL
ON CONFLICT (video_id, creator_id) DO NOTHING
RETURNING video_id, creator_id;
