-- Clusters %(ids)s (the columns of clusters_page.sql).
SELECT c.id, c.status, c.size, c.n_videos, c.representative_detection_id, c.creator_id, cr.name, c.merged_into,
       c.updated_at
FROM face_clusters c
LEFT JOIN creators cr ON cr.id = c.creator_id
WHERE c.id = ANY(%(ids)s::int[])
ORDER BY c.size DESC, c.id DESC;
