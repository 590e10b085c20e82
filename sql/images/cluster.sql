-- The crop file of a cluster's representative face (NULL path: the placeholder).
SELECT d.crop_path
FROM face_clusters c
LEFT JOIN video_face_detections d ON d.id = c.representative_detection_id
WHERE c.id = %s;
