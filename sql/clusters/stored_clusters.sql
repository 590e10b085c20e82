-- The stored faces and the cluster each was left in (a re-run with nothing changed reads just this).
SELECT face_id, cluster_id FROM face_neighbours;
