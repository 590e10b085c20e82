-- face_detections: staged new faces of video %(video_id)s (temp table new_faces) where a forgotten face was (the same
-- frame time within %(tolerance)s s, box IoU > 0.5) are dropped before the video's faces are written; their crop
-- files are returned, to be deleted.
DELETE FROM new_faces n
WHERE EXISTS (
    SELECT 1
    FROM forgotten_faces f
    CROSS JOIN LATERAL (
        SELECT GREATEST(0, LEAST(n.bbox_x + n.bbox_width, f.bbox_x + f.bbox_width) - GREATEST(n.bbox_x, f.bbox_x))
             * GREATEST(0, LEAST(n.bbox_y + n.bbox_height, f.bbox_y + f.bbox_height) - GREATEST(n.bbox_y, f.bbox_y))
               AS inter
    ) i
    WHERE f.video_id = %(video_id)s
      AND abs(f.frame_timestamp - n.frame_timestamp) <= %(tolerance)s
      AND i.inter / NULLIF(n.bbox_width * n.bbox_height + f.bbox_width * f.bbox_height - i.inter, 0) > 0.5)
RETURNING n.crop_path;
