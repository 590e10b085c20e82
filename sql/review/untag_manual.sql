-- After a confirmation was revoked: a 'manual' tag (video, creator) from %(videos)s/%(creators)s goes when no face
-- of that creator in that video is confirmed any more. Legacy and face_recognition tags are never touched here.
DELETE FROM video_creators vc
USING unnest(%(videos)s::int[], %(creators)s::int[]) AS p(video_id, creator_id)
WHERE vc.video_id = p.video_id AND vc.creator_id = p.creator_id AND vc.source = 'manual'
  AND NOT EXISTS (
      SELECT 1 FROM video_face_detections d
      WHERE d.video_id = vc.video_id AND d.matched_creator_id = vc.creator_id AND d.match_status = 'manual')
RETURNING vc.video_id, vc.creator_id;
