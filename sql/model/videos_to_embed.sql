-- The videos holding faces without an embedding by the new model for their current place (frame and box): never
-- embedded, or re-detected since. %(video_ids)s: only among these (NULL: all).
SELECT DISTINCT d.video_id
FROM video_face_detections d
LEFT JOIN face_embeddings_next n
    ON n.detection_id = d.id AND n.frame_index = d.frame_index AND n.bbox_x = d.bbox_x AND n.bbox_y = d.bbox_y
    AND n.bbox_width = d.bbox_width AND n.bbox_height = d.bbox_height
WHERE n.detection_id IS NULL AND (%(video_ids)s::int[] IS NULL OR d.video_id = ANY(%(video_ids)s::int[]))
ORDER BY d.video_id;
