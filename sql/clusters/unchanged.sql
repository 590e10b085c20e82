-- Has anything a run depends on changed since the last run? One statement, one row back, nothing fetched per face
-- (a re-run with nothing changed reads just this). "Unchanged" when all of these hold, else the run goes on:
-- - the stored settings (face_neighbour_state.params, less the edge count and the tracks digest) equal this run's;
-- - the change log of the trigger on video_face_detections is empty (no face changed in place);
-- - the digest of the links a person made (review cluster merge) is the one the last run saw;
-- - the digest of the candidates' track groups (track_groups.sql, put in by the caller; params 'tracks', written by
--   clustering.py from the rows it clustered with) is the one the last run saw: store_tracks replacing a video's
--   tracks changes what must stay together (the same tracks written again change nothing);
-- - the candidates now (CTE cand: sql/clusters/candidates.sql, put in by the caller so there is one definition) are
--   exactly the stored faces (face_neighbours), each in the open cluster the last run left it in: a full join, not
--   a digest, so no change can hide in a collision;
-- - no open cluster without a candidate and no other face in an open or dissolved cluster (a full run would
--   dissolve the one and take the other out).
-- The cheap checks sit in WHERE: when one fails no row comes back and the candidates are never computed. The
-- figures the run reports (gated faces, cluster sizes) are computed only when everything is unchanged (CASE).
WITH cand AS ({candidates}),
track_groups AS ({track_groups}),
checks AS (
    SELECT s.params ->> 'edges' AS edges,
           NOT EXISTS (
               SELECT 1
               FROM (SELECT id, old_cluster_id FROM cand WHERE gate IS NULL) c
               FULL JOIN face_neighbours n ON n.face_id = c.id
               WHERE c.id IS NULL OR n.face_id IS NULL OR c.old_cluster_id IS DISTINCT FROM n.cluster_id
           )
           AND (SELECT count(*) FROM face_clusters WHERE status = 'open')
               = (SELECT count(DISTINCT cluster_id) FROM face_neighbours)
           AND (SELECT count(*) FROM video_face_detections d JOIN face_clusters c ON c.id = d.cluster_id
                WHERE c.status IN ('open', 'dissolved'))
               = (SELECT count(cluster_id) FROM face_neighbours)
           AND s.params ->> 'tracks'
               = (SELECT md5(coalesce(string_agg(id || ':' || video_id || ':' || track, ',' ORDER BY id), ''))
                  FROM track_groups) AS unchanged
    FROM face_neighbour_state s
    WHERE s.params - ARRAY['edges', 'tracks'] = %(params)s::jsonb
      AND NOT EXISTS (SELECT 1 FROM face_neighbour_changes)
      AND s.links = (SELECT md5(coalesce(string_agg(detection_id || ':' || link_group, ',' ORDER BY detection_id), ''))
                     FROM face_cluster_links)
)
SELECT unchanged,
       CASE WHEN unchanged THEN edges::bigint END AS edges,
       CASE WHEN unchanged THEN (SELECT count(*) FROM cand) END AS unknown_faces,
       CASE WHEN unchanged THEN (SELECT coalesce(jsonb_object_agg(gate, n), '{{}}')
                                 FROM (SELECT gate, count(*) AS n FROM cand WHERE gate IS NOT NULL GROUP BY gate) g)
       END AS gated,
       -- cluster id and faces, one pair per open cluster
       CASE WHEN unchanged THEN (SELECT coalesce(array_agg(ARRAY[cluster_id, n] ORDER BY cluster_id), '{{}}')
                                 FROM (SELECT cluster_id, count(*)::int AS n FROM face_neighbours
                                       WHERE cluster_id IS NOT NULL GROUP BY cluster_id) k)
       END AS sizes
FROM checks;
