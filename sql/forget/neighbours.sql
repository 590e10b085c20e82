-- Clustering's kept neighbour lists (face_neighbours, see face_assets.recognition.clustering): the forgotten faces'
-- own lists and change-log entries go; a list that holds one of them loses it and is logged as changed
-- (face_neighbour_changes), so the next clustering queries it again (what comes after it among the nearest is not
-- known). Returns the number of lists that held a forgotten face.
WITH own AS (
    DELETE FROM face_neighbours n USING forget_faces f WHERE n.face_id = f.id RETURNING n.face_id
),
own_log AS (
    DELETE FROM face_neighbour_changes c USING forget_faces f WHERE c.face_id = f.id RETURNING c.face_id
),
kept AS (
    SELECT n.face_id,
           coalesce(array_agg(u.neighbour_id ORDER BY u.position)
                    FILTER (WHERE u.neighbour_id NOT IN (SELECT id FROM forget_faces)), '{}') AS neighbour_ids,
           coalesce(array_agg(u.distance ORDER BY u.position)
                    FILTER (WHERE u.neighbour_id NOT IN (SELECT id FROM forget_faces)), '{}') AS distances
    FROM face_neighbours n
    CROSS JOIN LATERAL unnest(n.neighbour_ids, n.distances) WITH ORDINALITY AS u(neighbour_id, distance, position)
    WHERE n.neighbour_ids && (SELECT coalesce(array_agg(id), '{}') FROM forget_faces)
      AND n.face_id NOT IN (SELECT id FROM forget_faces)
    GROUP BY n.face_id
),
scrubbed AS (
    UPDATE face_neighbours n
    SET neighbour_ids = k.neighbour_ids, distances = k.distances
    FROM kept k
    WHERE n.face_id = k.face_id
    RETURNING n.face_id
)
INSERT INTO face_neighbour_changes (face_id)
SELECT face_id FROM scrubbed;
