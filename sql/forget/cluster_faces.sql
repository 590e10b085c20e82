-- The faces of cluster %(cluster_id)s (those of clusters merged into it are in it).
INSERT INTO forget_faces (id)
SELECT d.id FROM video_face_detections d WHERE d.cluster_id = %(cluster_id)s
ON CONFLICT (id) DO NOTHING;
