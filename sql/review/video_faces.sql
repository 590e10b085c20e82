-- Every face of video %(video_id)s (index idx_video_faces_video), in frame order.
{face_rows}
WHERE d.video_id = %(video_id)s
ORDER BY d.frame_index, d.id;
