-- The head of every query that lists faces for the review pages (faces_by_id, video_faces, cluster_face_page add
-- their WHERE and order): the columns review_queries._face reads, in its order, with the face's video and creator.
SELECT d.id, d.video_id, COALESCE(NULLIF(v.title, ''), v.file_name), d.frame_timestamp, d.frame_index,
       d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height, d.match_status, d.matched_creator_id, c.name,
       d.match_confidence, d.decided_at IS NOT NULL, d.cluster_id, d.quality_score
FROM video_face_detections d
JOIN videos v ON v.id = d.video_id
LEFT JOIN creators c ON c.id = d.matched_creator_id
