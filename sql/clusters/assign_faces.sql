-- Set-based cluster membership: the faces in %(ids)s get the cluster at the same position in %(cluster_ids)s; every
-- other face of an open (or dissolved) cluster leaves it. Faces of named/merged clusters are not touched.
-- Returns the ids of the faces whose cluster_id changed, with the old and the new value.
WITH new AS (
    SELECT * FROM unnest(%(ids)s::int[], %(cluster_ids)s::int[]) AS n(id, cluster_id)
),
target AS (
    SELECT d.id, n.cluster_id
    FROM video_face_detections d
    JOIN face_clusters c ON c.id = d.cluster_id AND c.status IN ('open', 'dissolved')
    LEFT JOIN new n ON n.id = d.id
    UNION
    SELECT n.id, n.cluster_id FROM new n
),
old AS (
    SELECT d.id, d.cluster_id FROM video_face_detections d JOIN target t ON t.id = d.id
)
UPDATE video_face_detections d
SET cluster_id = t.cluster_id
FROM target t, old o
WHERE d.id = t.id AND o.id = t.id AND d.cluster_id IS DISTINCT FROM t.cluster_id
RETURNING d.id, o.cluster_id AS old_cluster_id, d.cluster_id AS new_cluster_id;
