-- The forgotten faces themselves (embedding, box, crop path, match): their links, exclusions and timeline membership
-- go with them (ON DELETE CASCADE), clusters and appearances that named one as representative keep NULL there.
-- Returns (video, cluster, faces) per video and cluster they were in.
WITH gone AS (
    DELETE FROM video_face_detections d USING forget_faces f WHERE d.id = f.id RETURNING d.video_id, d.cluster_id
)
SELECT video_id, cluster_id, count(*)::int FROM gone GROUP BY video_id, cluster_id ORDER BY video_id, cluster_id;
