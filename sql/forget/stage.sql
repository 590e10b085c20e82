-- The faces one forget deletes, by id (filled by forget/creator_faces.sql or forget/cluster_faces.sql).
CREATE TEMP TABLE IF NOT EXISTS forget_faces (id INTEGER PRIMARY KEY) ON COMMIT DROP;
TRUNCATE forget_faces;
