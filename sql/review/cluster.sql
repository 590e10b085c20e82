-- One cluster, with its creator's name.
SELECT c.id, c.status, c.size, c.n_videos, c.creator_id, cr.name, c.merged_into
FROM face_clusters c
LEFT JOIN creators cr ON cr.id = c.creator_id
WHERE c.id = %(id)s;
