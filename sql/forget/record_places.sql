-- The tombstones of the forgotten faces: their places only (see sql/upgrades/0002_forget.sql).
INSERT INTO forgotten_faces (video_id, frame_index, frame_timestamp, bbox_x, bbox_y, bbox_width, bbox_height)
SELECT d.video_id, d.frame_index, d.frame_timestamp, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height
FROM video_face_detections d
JOIN forget_faces f ON f.id = d.id;
