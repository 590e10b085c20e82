-- size, n_videos and representative face of the clusters in %(ids)s, from their faces now.
-- The representative is the highest-quality face among the faces closest to the cluster centroid (the closest
-- quarter, at least 1 and at most 10 faces); ties go to the closer face. updated_at moves when a value changed or
-- the cluster is in %(changed)s (its membership changed).
-- One scan of the members and window functions, no join between derived sets: after a first clustering the table's
-- statistics still say every cluster_id is NULL, every derived set is estimated at one row, and a join of members
-- with centroids was planned as a nested loop over all pairs (90 s for 80,000 faces, against ~2 s now). The joins
-- left are driven by the derived set into face_clusters' primary key, fine at any estimate.
WITH members AS (
    SELECT d.cluster_id, d.id, d.quality_score,
           count(*) OVER per_cluster AS size,
           d.embedding <=> avg(d.embedding) OVER per_cluster AS distance,
           dense_rank() OVER (PARTITION BY d.cluster_id ORDER BY d.video_id) AS video_rank
    FROM video_face_detections d
    WHERE d.cluster_id = ANY(%(ids)s::int[])
    WINDOW per_cluster AS (PARTITION BY d.cluster_id)
),
ranked AS (
    SELECT cluster_id, id, quality_score, size,
           max(video_rank) OVER (PARTITION BY cluster_id) AS n_videos,
           row_number() OVER (PARTITION BY cluster_id ORDER BY distance, id) AS closeness
    FROM members
),
stats AS (
    SELECT DISTINCT ON (cluster_id) cluster_id, size::int AS size, n_videos::int AS n_videos, id AS representative
    FROM ranked
    WHERE closeness <= GREATEST(1, LEAST(10, ceil(size * 0.25)))
    ORDER BY cluster_id, quality_score DESC NULLS LAST, closeness
),
with_faces AS (
    UPDATE face_clusters f
    SET size = s.size, n_videos = s.n_videos, representative_detection_id = s.representative,
        updated_at = CURRENT_TIMESTAMP
    FROM stats s
    WHERE f.id = s.cluster_id
      AND ((f.size, f.n_videos, f.representative_detection_id) IS DISTINCT FROM (s.size, s.n_videos, s.representative)
           OR f.id = ANY(%(changed)s::int[]))
    RETURNING f.id
)
-- Clusters of %(ids)s left without faces (a statement's CTE and its main part must not update the same row: they
-- do not, a cluster either has faces or not).
UPDATE face_clusters f
SET size = 0, n_videos = 0, representative_detection_id = NULL, updated_at = CURRENT_TIMESTAMP
WHERE f.id = ANY(%(ids)s::int[])
  AND f.id NOT IN (SELECT cluster_id FROM stats)
  AND ((f.size, f.n_videos, f.representative_detection_id) IS DISTINCT FROM (0, 0, NULL)
       OR f.id = ANY(%(changed)s::int[]));
