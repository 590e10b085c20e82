-- The forgotten faces' places in video %(video_id)s: frame time and box (sampled_frames paints them out).
SELECT frame_timestamp, bbox_x, bbox_y, bbox_width, bbox_height
FROM forgotten_faces
WHERE video_id = %(video_id)s
ORDER BY frame_timestamp, id;
