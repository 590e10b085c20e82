-- The faces whose neighbour lists the last run kept (sql/face/schema.sql, face_neighbours), in id order, as three
-- packed big-endian int4 arrays in one row (one value per face: no row, tuple or array object per face to decode):
-- the face, the open cluster it was left in (-1: none), its list's length. NULLs when there is none.
SELECT string_agg(int4send(face_id), ''::bytea ORDER BY face_id),
       string_agg(int4send(coalesce(cluster_id, -1)), ''::bytea ORDER BY face_id),
       string_agg(int4send(cardinality(neighbour_ids)), ''::bytea ORDER BY face_id)
FROM face_neighbours;
