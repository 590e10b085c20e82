-- The neighbour lists the last run left (sql/face/schema.sql, face_neighbours).
SELECT face_id, neighbour_ids, distances, cluster_id FROM face_neighbours;
