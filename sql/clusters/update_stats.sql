-- size, n_videos and representative face of the clusters in %(ids)s, from their faces now.
-- The representative is the highest-quality face among the faces closest to the cluster centroid (the closest
-- quarter, at least 1 and at most 10 faces); ties go to the closer face. updated_at moves when a value changed or
-- the cluster is in %(changed)s (its membership changed).
WITH members AS (
    SELECT d.cluster_id, d.id, d.video_id, d.quality_score, d.embedding
    FROM video_face_detections d
    WHERE d.cluster_id = ANY(%(ids)s::int[])
),
centroids AS (
    SELECT cluster_id, avg(embedding) AS centroid, count(*) AS size, count(DISTINCT video_id) AS n_videos
    FROM members
    GROUP BY cluster_id
),
ranked AS (
    SELECT m.cluster_id, m.id, m.quality_score, c.size,
           row_number() OVER (PARTITION BY m.cluster_id ORDER BY m.embedding <=> c.centroid, m.id) AS closeness
    FROM members m
    JOIN centroids c USING (cluster_id)
),
representative AS (
    SELECT DISTINCT ON (cluster_id) cluster_id, id
    FROM ranked
    WHERE closeness <= GREATEST(1, LEAST(10, ceil(size * 0.25)))
    ORDER BY cluster_id, quality_score DESC NULLS LAST, closeness
),
stats AS (
    SELECT i.id, COALESCE(c.size, 0)::int AS size, COALESCE(c.n_videos, 0)::int AS n_videos, r.id AS representative
    FROM unnest(%(ids)s::int[]) AS i(id)
    LEFT JOIN centroids c ON c.cluster_id = i.id
    LEFT JOIN representative r ON r.cluster_id = i.id
)
UPDATE face_clusters f
SET size = s.size, n_videos = s.n_videos, representative_detection_id = s.representative,
    updated_at = CURRENT_TIMESTAMP
FROM stats s
WHERE f.id = s.id
  AND ((f.size, f.n_videos, f.representative_detection_id) IS DISTINCT FROM (s.size, s.n_videos, s.representative)
       OR f.id = ANY(%(changed)s::int[]));
