-- The unknown faces clustering groups (asset `face_clusters`), each with the quality gate it fails (NULL: passes).
--
-- Unknown = no creator confirmed, auto-tagged or proposed for review:
--   'unmatched' (best creator below match_threshold), 'rejected' (a person said it is not the proposed creator),
--   or 'pending' with no candidate creator yet (not matched yet).
-- Faces of 'named' or 'merged' clusters are never touched (they are 'manual' anyway).
-- Quality gates: the shorter side of the box >= min_face_size px; detection score (quality_score) >= min_score;
-- not blurry: the frame's sharpness (variance of the Laplacian, comparable within one video only) at least
-- min_relative_sharpness x the median sharpness of the video's sampled frames (no frame row or no value: passes).
-- old_cluster_id: the open cluster the face is in now (for stable cluster ids).
WITH unknown AS (
    SELECT d.id, d.video_id, d.frame_index, d.bbox_width, d.bbox_height, d.quality_score,
           CASE WHEN c.status = 'open' THEN d.cluster_id END AS old_cluster_id
    FROM video_face_detections d
    LEFT JOIN face_clusters c ON c.id = d.cluster_id
    WHERE (d.match_status IN ('unmatched', 'rejected') OR (d.match_status = 'pending' AND d.matched_creator_id IS NULL))
      AND (d.cluster_id IS NULL OR c.status IN ('open', 'dissolved'))
      -- a face a person took out of a cluster stays out until someone decides who it is
      AND NOT EXISTS (SELECT 1 FROM face_cluster_exclusions x WHERE x.detection_id = d.id)
),
medians AS (
    SELECT f.video_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY f.sharpness) AS median_sharpness
    FROM video_frames f
    WHERE f.video_id IN (SELECT DISTINCT video_id FROM unknown) AND f.sharpness IS NOT NULL
    GROUP BY f.video_id
)
SELECT u.id, u.video_id, u.frame_index, u.old_cluster_id,
       CASE
           WHEN LEAST(u.bbox_width, u.bbox_height) < %(min_face_size)s THEN 'small'
           WHEN u.quality_score < %(min_score)s THEN 'low_score'
           WHEN f.sharpness < %(min_relative_sharpness)s * m.median_sharpness THEN 'blurry'
       END AS gate
FROM unknown u
LEFT JOIN video_frames f ON f.video_id = u.video_id AND f.frame_index = u.frame_index
LEFT JOIN medians m ON m.video_id = u.video_id
ORDER BY u.id;
