-- The known faces of creator %(id)s: profile picture, reference images, confirmed video faces ('video_frame',
-- source_path 'detection:<id>'; learned automatically: learned_from = the detection), with the detection's video.
SELECT e.id, e.source_type, e.source_path, e.quality_score, e.created_at,
       COALESCE(e.learned_from, CASE WHEN e.source_path LIKE 'detection:%%' THEN substr(e.source_path, 11)::int END) AS detection_id,
       d.video_id
FROM creator_face_embeddings e
LEFT JOIN video_face_detections d
       ON d.id = COALESCE(e.learned_from, CASE WHEN e.source_path LIKE 'detection:%%' THEN substr(e.source_path, 11)::int END)
WHERE e.creator_id = %(id)s
ORDER BY (e.source_type = 'profile_picture') DESC, (e.source_type = 'manual') DESC, e.id
LIMIT %(limit)s;
