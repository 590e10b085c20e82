-- A person's decision "face %(ids)s[i] is creator %(creator_ids)s[i]": status 'manual', decided now. The confidence
-- is kept when the creator is the one matching proposed, otherwise cleared (no machine score for that creator).
UPDATE video_face_detections d
SET match_status = 'manual',
    matched_creator_id = u.creator_id,
    match_confidence = CASE WHEN d.matched_creator_id = u.creator_id THEN d.match_confidence END,
    decided_at = CURRENT_TIMESTAMP
FROM unnest(%(ids)s::int[], %(creator_ids)s::int[]) AS u(id, creator_id)
WHERE d.id = u.id
RETURNING d.id, d.video_id, d.matched_creator_id;
