-- Every 'rejected' detection row is also a veto of its creator for that face (so the veto outlives the row's
-- status if a person later reopens the face). Cheap: one scan of the narrow heap (the embeddings live out of line).
INSERT INTO face_match_rejections (detection_id, video_id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height,
                                   creator_id, rejected_at)
SELECT d.id, d.video_id, d.frame_index, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height, d.matched_creator_id,
       COALESCE(d.decided_at, now())
FROM video_face_detections d
WHERE d.match_status = 'rejected' AND d.matched_creator_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM face_match_rejections r
                  WHERE r.detection_id = d.id AND r.creator_id = d.matched_creator_id)
ORDER BY d.id  -- one lock order for concurrent runs
ON CONFLICT (detection_id, creator_id) DO NOTHING;
