-- One page of the faces of cluster %(cluster_id)s, in id order after %(after_id)s.
{face_rows}
WHERE d.cluster_id = %(cluster_id)s AND (%(after_id)s::int IS NULL OR d.id > %(after_id)s::int)
ORDER BY d.id
LIMIT %(limit)s;
