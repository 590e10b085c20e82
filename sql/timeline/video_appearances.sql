-- The appearances of one video for its page and the API: the person (creator or cluster) with a name, the
-- interval, the faces, and the frame of its best face (the moment shown when it is clicked).
SELECT a.id, a.creator_id, a.cluster_id, COALESCE(c.name, 'Person ' || a.cluster_id) AS name, a.status,
       a.start_seconds, a.end_seconds, a.faces, a.tracks, a.confidence, a.best_detection_id,
       d.frame_index, d.frame_timestamp
FROM face_appearances a
LEFT JOIN creators c ON c.id = a.creator_id
LEFT JOIN video_face_detections d ON d.id = a.best_detection_id
WHERE a.video_id = %(video_id)s
ORDER BY (a.creator_id IS NULL), name, a.creator_id, a.cluster_id, a.start_seconds;
