-- The faces of open clusters, for cluster proposals: cluster, face, video, frame, embedding.
SELECT d.cluster_id, d.id, d.video_id, d.frame_index, d.embedding
FROM video_face_detections d
JOIN face_clusters c ON c.id = d.cluster_id AND c.status = 'open'
ORDER BY d.cluster_id, d.id;
