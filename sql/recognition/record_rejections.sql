-- Veto creator %(creator_id)s (NULL: each face's current matched_creator_id) for the faces %(detection_ids)s.
INSERT INTO face_match_rejections (detection_id, video_id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height,
                                   creator_id)
SELECT d.id, d.video_id, d.frame_index, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height,
       COALESCE(%(creator_id)s::int, d.matched_creator_id)
FROM video_face_detections d
WHERE d.id = ANY(%(detection_ids)s::int[]) AND COALESCE(%(creator_id)s::int, d.matched_creator_id) IS NOT NULL
ON CONFLICT (detection_id, creator_id) DO NOTHING
RETURNING detection_id;
