-- One page of clusters with status %(status)s, largest first (then newest id), after the keyset cursor
-- (%(after_size)s, %(after_id)s) when given: a backward scan of idx_face_clusters_listing (status, size, id).
SELECT c.id, c.status, c.size, c.n_videos, c.representative_detection_id, c.creator_id, cr.name, c.merged_into,
       c.updated_at
FROM face_clusters c
LEFT JOIN creators cr ON cr.id = c.creator_id
WHERE c.status = %(status)s
  AND (%(after_id)s::int IS NULL OR (c.size, c.id) < (%(after_size)s::int, %(after_id)s::int))
ORDER BY c.size DESC, c.id DESC
LIMIT %(limit)s;
