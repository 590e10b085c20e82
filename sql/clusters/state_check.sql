-- What a re-run compares with what the last run left (table face_neighbour_state), besides the candidates: the open
-- clusters, the faces in open or dissolved clusters (a full run takes out any face that is not a candidate), and a
-- digest of the links a person made (review cluster merge).
SELECT (SELECT count(*) FROM face_clusters WHERE status = 'open') AS open_clusters,
       (SELECT count(*) FROM video_face_detections d JOIN face_clusters c ON c.id = d.cluster_id
        WHERE c.status IN ('open', 'dissolved')) AS faces_in_open_clusters,
       (SELECT md5(coalesce(string_agg(detection_id || ':' || link_group, ',' ORDER BY detection_id), ''))
        FROM face_cluster_links) AS links,
       (SELECT params FROM face_neighbour_state) AS params,
       (SELECT links FROM face_neighbour_state) AS stored_links;
