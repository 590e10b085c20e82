-- Faces %(ids)s leave their cluster (a person decided they are someone else than the cluster's creator).
UPDATE video_face_detections SET cluster_id = NULL WHERE id = ANY(%(ids)s::int[]);
