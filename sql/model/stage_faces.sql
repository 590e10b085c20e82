-- A video's faces embedded by the new model replace what was staged for it (the caller deleted that first); a face
-- deleted or moved meanwhile (the pipeline re-detected the video) is left out, and embedded again for its new place.
INSERT INTO face_embeddings_next
    (detection_id, video_id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height, embedding, landmarks)
SELECT s.detection_id, s.video_id, s.frame_index, s.bbox_x, s.bbox_y, s.bbox_width, s.bbox_height, s.embedding,
       s.landmarks
FROM staged_faces s
JOIN video_face_detections d
    ON d.id = s.detection_id AND d.frame_index = s.frame_index AND d.bbox_x = s.bbox_x AND d.bbox_y = s.bbox_y
    AND d.bbox_width = s.bbox_width AND d.bbox_height = s.bbox_height
ON CONFLICT (detection_id) DO NOTHING;
