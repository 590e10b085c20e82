-- The videos whose appearances may name a cluster: a tracked face in a cluster, or an appearance of one now.
SELECT tf.video_id
FROM video_face_track_faces tf
JOIN video_face_detections d ON d.id = tf.detection_id
WHERE d.cluster_id IS NOT NULL
UNION
SELECT video_id FROM face_appearances WHERE cluster_id IS NOT NULL;
