-- Up to %(per_cluster)s sample faces of each cluster %(ids)s (best detection score first), with the number of
-- videos. One pass over the faces (cluster_id carries no index, see sql/face/schema.sql).
SELECT s.cluster_id, s.id
FROM (
    SELECT d.cluster_id, d.id,
           row_number() OVER (PARTITION BY d.cluster_id ORDER BY d.quality_score DESC NULLS LAST, d.id) AS rank
    FROM video_face_detections d
    WHERE d.cluster_id = ANY(%(ids)s::int[])
) s
WHERE s.rank <= %(per_cluster)s
ORDER BY s.cluster_id, s.rank;
