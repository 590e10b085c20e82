-- The videos of cluster %(cluster_id)s with how many of its faces each holds.
SELECT d.video_id, COALESCE(NULLIF(v.title, ''), v.file_name), count(*)
FROM video_face_detections d
JOIN videos v ON v.id = d.video_id
WHERE d.cluster_id = %(cluster_id)s
GROUP BY d.video_id, v.title, v.file_name
ORDER BY count(*) DESC, d.video_id
LIMIT %(limit)s;
