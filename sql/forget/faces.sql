-- The faces about to be forgotten, with their files: the crop, and the sampled frame they are on with their box
-- (painted out of the frame file once the rows are gone).
SELECT d.id, d.video_id, d.cluster_id, d.crop_path, fr.path, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height
FROM video_face_detections d
JOIN forget_faces f ON f.id = d.id
LEFT JOIN video_frames fr ON fr.video_id = d.video_id AND fr.frame_index = d.frame_index
ORDER BY d.id;
