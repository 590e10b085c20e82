-- The switch: every face takes its embedding by the new model (its id, place, status, cluster and decision stay).
UPDATE video_face_detections d
SET embedding = n.embedding
FROM face_embeddings_next n
WHERE n.detection_id = d.id AND n.frame_index = d.frame_index AND n.bbox_x = d.bbox_x AND n.bbox_y = d.bbox_y
  AND n.bbox_width = d.bbox_width AND n.bbox_height = d.bbox_height;
