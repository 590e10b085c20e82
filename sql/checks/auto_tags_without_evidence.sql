-- Auto-tags (source 'face_recognition') of these videos with no face of that creator in the video that is matched
-- or confirmed: a tag nobody can explain.
SELECT vc.video_id, vc.creator_id
FROM video_creators vc
WHERE vc.source = 'face_recognition'
  AND vc.video_id = ANY(%(video_ids)s)
  AND NOT EXISTS (
      SELECT 1 FROM video_face_detections d
      WHERE d.video_id = vc.video_id AND d.matched_creator_id = vc.creator_id
        AND d.match_status IN ('matched', 'manual'))
ORDER BY vc.video_id, vc.creator_id;
