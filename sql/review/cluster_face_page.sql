-- One page of the faces of cluster %(cluster_id)s, in id order after %(after_id)s.
SELECT d.id, d.video_id, COALESCE(NULLIF(v.title, ''), v.file_name), d.frame_timestamp, d.frame_index,
       d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height, d.match_status, d.matched_creator_id, c.name,
       d.match_confidence, d.decided_at IS NOT NULL, d.cluster_id, d.quality_score
FROM video_face_detections d
JOIN videos v ON v.id = d.video_id
LEFT JOIN creators c ON c.id = d.matched_creator_id
WHERE d.cluster_id = %(cluster_id)s AND (%(after_id)s::int IS NULL OR d.id > %(after_id)s::int)
ORDER BY d.id
LIMIT %(limit)s;
