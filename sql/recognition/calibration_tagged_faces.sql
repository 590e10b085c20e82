-- Calibration from the library: the faces of videos tagged by a person or by the legacy app (not by face
-- recognition), with the tagged creator, for videos where no face was confirmed as that creator (those count
-- as confirmed faces already). The tag says the creator is in the video, not which face: the caller keeps the
-- best face per (video, creator).
SELECT vc.video_id, vc.creator_id, d.embedding
FROM video_creators vc
JOIN video_face_detections d ON d.video_id = vc.video_id
WHERE vc.source IN ('legacy', 'manual')
  AND EXISTS (SELECT 1 FROM creator_face_embeddings e
              WHERE e.creator_id = vc.creator_id AND e.source_type IN ('profile_picture', 'manual'))
  AND NOT EXISTS (SELECT 1 FROM video_face_detections c
                  WHERE c.video_id = vc.video_id AND c.matched_creator_id = vc.creator_id
                    AND c.match_status = 'manual')
ORDER BY vc.video_id, vc.creator_id, d.id;
