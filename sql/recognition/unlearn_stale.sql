-- Learned references of faces in %(video_ids)s that no longer back them: the face is no longer auto-tagged
-- ('matched', undecided) as that creator. A person confirming the face makes it an anchor (review adds its own
-- 'detection:<id>' reference); a person rejecting it vetoes it for good (face_match_rejections).
DELETE FROM creator_face_embeddings e
USING video_face_detections d
WHERE e.learned_from = d.id
  AND d.video_id = ANY(%(video_ids)s::int[])
  AND NOT (d.decided_at IS NULL AND d.match_status = 'matched' AND d.matched_creator_id = e.creator_id)
RETURNING e.id;
