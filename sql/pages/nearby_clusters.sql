-- Other open clusters to merge with cluster %(cluster_id)s, the most alike first: cosine similarity between the
-- clusters' representative faces (one vector per cluster, so this stays small with thousands of clusters).
SELECT o.id, 1 - (od.embedding <=> cd.embedding) AS similarity
FROM face_clusters c
JOIN video_face_detections cd ON cd.id = c.representative_detection_id
JOIN face_clusters o ON o.status = 'open' AND o.id <> c.id
JOIN video_face_detections od ON od.id = o.representative_detection_id
WHERE c.id = %(cluster_id)s
ORDER BY od.embedding <=> cd.embedding
LIMIT %(limit)s;
