-- Every face of video %(video_id)s (index idx_video_faces_video), in frame order.
SELECT d.id, d.video_id, COALESCE(NULLIF(v.title, ''), v.file_name), d.frame_timestamp, d.frame_index,
       d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height, d.match_status, d.matched_creator_id, c.name,
       d.match_confidence, d.decided_at IS NOT NULL, d.cluster_id, d.quality_score
FROM video_face_detections d
JOIN videos v ON v.id = d.video_id
LEFT JOIN creators c ON c.id = d.matched_creator_id
WHERE d.video_id = %(video_id)s
ORDER BY d.frame_index, d.id;
