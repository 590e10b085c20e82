-- The faces of videos %(video_ids)s with their place, and the file of the frame each is on.
SELECT d.video_id, d.id, d.frame_index, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height, f.path
FROM video_face_detections d
LEFT JOIN video_frames f ON f.video_id = d.video_id AND f.frame_index = d.frame_index
WHERE d.video_id = ANY(%(video_ids)s::int[])
ORDER BY d.video_id, d.frame_index, d.id;
