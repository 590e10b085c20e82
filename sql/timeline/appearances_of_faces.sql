-- For faces %(ids)s (the nearest faces of a searched photo): the appearances of the person each face's track belongs
-- to, in that face's video, in time order.
WITH hit AS (
    SELECT tf.detection_id, a.video_id, a.creator_id, a.cluster_id
    FROM video_face_track_faces tf
    JOIN face_appearances a ON a.video_id = tf.video_id AND tf.track = ANY(a.track_numbers)
    WHERE tf.detection_id = ANY(%(ids)s::int[])
)
SELECT h.detection_id, a.creator_id, a.cluster_id, COALESCE(c.name, 'Person ' || a.cluster_id), a.status,
       a.start_seconds, a.end_seconds
FROM hit h
JOIN face_appearances a ON a.video_id = h.video_id
    AND a.creator_id IS NOT DISTINCT FROM h.creator_id AND a.cluster_id IS NOT DISTINCT FROM h.cluster_id
LEFT JOIN creators c ON c.id = a.creator_id
ORDER BY h.detection_id, a.start_seconds;
