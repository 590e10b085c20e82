-- The staged `new_faces` of frames adaptive sampling added (asset timeline_frames): inserted as 'pending', for
-- face_matches to match. Their frames are new, so no earlier face (and no decision) can be theirs.
INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y, bbox_width,
                                   bbox_height, quality_score, match_status, crop_path)
SELECT %(video_id)s, n.frame_timestamp, n.frame_index, n.embedding, n.bbox_x, n.bbox_y, n.bbox_width, n.bbox_height,
       n.quality_score, 'pending', n.crop_path
FROM new_faces n
ORDER BY n.ord;
