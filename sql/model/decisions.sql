-- What people decided, counted (a switch of model keeps every one of them).
SELECT
    (SELECT count(*) FROM video_face_detections WHERE match_status = 'manual') AS confirmed_or_assigned,
    (SELECT count(*) FROM video_face_detections WHERE match_status = 'rejected') AS rejected,
    (SELECT count(*) FROM face_match_rejections) AS vetoed_matches,
    (SELECT count(*) FROM learned_reference_vetoes) AS vetoed_references,
    (SELECT count(*) FROM face_clusters WHERE status IN ('named', 'merged', 'ignored')) AS decided_clusters,
    (SELECT count(*) FROM face_cluster_links) AS linked_faces,
    (SELECT count(*) FROM face_cluster_exclusions) AS excluded_faces,
    (SELECT count(*) FROM video_creators WHERE source = 'manual') AS manual_tags;
