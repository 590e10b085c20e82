-- What a re-run that goes on (see unchanged.sql) needs from what the last run left (table face_neighbour_state):
-- the digest of the links a person made now (review cluster merge), saved again at the end, and the settings the
-- stored lists were computed with.
SELECT (SELECT md5(coalesce(string_agg(detection_id || ':' || link_group, ',' ORDER BY detection_id), ''))
        FROM face_cluster_links) AS links,
       (SELECT params FROM face_neighbour_state) AS params;
