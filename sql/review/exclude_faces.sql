-- Faces %(ids)s of cluster %(cluster_id)s are someone else: out of the cluster, out of any link group, and kept out
-- of clustering (face_cluster_exclusions) until a person decides who they are.
WITH unlinked AS (
    DELETE FROM face_cluster_links WHERE detection_id = ANY(%(ids)s::int[])
), excluded AS (
    INSERT INTO face_cluster_exclusions (detection_id, cluster_id)
    SELECT id, %(cluster_id)s FROM unnest(%(ids)s::int[]) AS u(id)
    ON CONFLICT (detection_id) DO UPDATE SET cluster_id = EXCLUDED.cluster_id, excluded_at = CURRENT_TIMESTAMP
)
UPDATE video_face_detections SET cluster_id = NULL
WHERE id = ANY(%(ids)s::int[]) AND cluster_id = %(cluster_id)s
RETURNING id;
