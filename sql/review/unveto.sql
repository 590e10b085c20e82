-- A person says face %(ids)s[i] IS creator %(creator_ids)s[i] after all: an earlier rejection of that pair no longer
-- holds (face_match_rejections is matching's veto table; absent before matching ever ran).
DELETE FROM face_match_rejections r
USING unnest(%(ids)s::int[], %(creator_ids)s::int[]) AS u(id, creator_id)
WHERE r.detection_id = u.id AND r.creator_id = u.creator_id;
