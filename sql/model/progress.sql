-- How far a change of model is: faces, faces embedded by the new model for their current place, videos left.
SELECT count(*) AS faces,
       count(n.detection_id) AS embedded,
       count(DISTINCT d.video_id) FILTER (WHERE n.detection_id IS NULL) AS videos_left
FROM video_face_detections d
LEFT JOIN face_embeddings_next n
    ON n.detection_id = d.id AND n.frame_index = d.frame_index AND n.bbox_x = d.bbox_x AND n.bbox_y = d.bbox_y
    AND n.bbox_width = d.bbox_width AND n.bbox_height = d.bbox_height;
