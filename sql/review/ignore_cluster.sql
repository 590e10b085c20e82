-- A person says cluster %(id)s is nobody to name: 'ignored' (clustering leaves it and its faces alone).
UPDATE face_clusters SET status = 'ignored', updated_at = CURRENT_TIMESTAMP
WHERE id = %(id)s AND status = 'open'
RETURNING id;
