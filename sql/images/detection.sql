-- The crop file of a face (by id).
SELECT crop_path FROM video_face_detections WHERE id = %s;
