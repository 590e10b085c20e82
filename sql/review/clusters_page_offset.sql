-- Clusters paged with OFFSET: the baseline clusters_page.sql is measured against (benchmarks). Not used by the app.
SELECT c.id, c.status, c.size, c.n_videos, c.representative_detection_id, c.creator_id, cr.name, c.merged_into,
       c.updated_at
FROM face_clusters c
LEFT JOIN creators cr ON cr.id = c.creator_id
WHERE c.status = %(status)s
ORDER BY c.size DESC, c.id DESC
LIMIT %(limit)s OFFSET %(offset)s;
