-- Faces a person gave a creator (status 'manual') that still sit in an open cluster of unknown people: the cluster
-- would offer someone already named, and naming it could move a decided face.
SELECT d.id, d.cluster_id
FROM video_face_detections d
JOIN face_clusters c ON c.id = d.cluster_id
WHERE c.status = 'open' AND d.match_status = 'manual'
ORDER BY d.id
LIMIT 100;
