-- Replace one video's detections by the staged `new_faces`, in one statement (run inside the video's transaction).
--
-- The new detection of the same face (same frame_index, box IoU > 0.5; pairs one-to-one, each side keeping its
-- best-overlapping partner) inherits from the old row:
--   * its cluster, so cluster ids stay stable when a video is re-detected;
--   * a review decision a person made (match_status 'manual' or 'rejected', or decided_at set): match_status,
--     matched_creator_id, match_confidence and decided_at. Every other new row starts as 'pending' for matching.
-- Returns the number of rows inserted, decisions carried over, and decisions that found no new face.
WITH old AS (
    DELETE FROM video_face_detections
    WHERE video_id = %(video_id)s
    RETURNING id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height,
              match_status, matched_creator_id, match_confidence, decided_at, cluster_id,
              (match_status IN ('manual', 'rejected') OR decided_at IS NOT NULL) AS decided
),
pairs AS (
    SELECT n.ord, d.id AS old_id, d.decided, d.match_status, d.matched_creator_id, d.match_confidence,
           d.decided_at, d.cluster_id,
           inter / NULLIF(n.bbox_width * n.bbox_height + d.bbox_width * d.bbox_height - inter, 0) AS iou
    FROM new_faces n
    JOIN old d ON d.frame_index = n.frame_index
    CROSS JOIN LATERAL (
        SELECT GREATEST(0, LEAST(n.bbox_x + n.bbox_width, d.bbox_x + d.bbox_width) - GREATEST(n.bbox_x, d.bbox_x))
             * GREATEST(0, LEAST(n.bbox_y + n.bbox_height, d.bbox_y + d.bbox_height) - GREATEST(n.bbox_y, d.bbox_y))
               AS inter
    ) i
),
ranked AS (
    SELECT o.*,
           row_number() OVER (PARTITION BY o.ord ORDER BY o.iou DESC, o.old_id) AS rank_for_new,
           row_number() OVER (PARTITION BY o.old_id ORDER BY o.iou DESC, o.ord) AS rank_for_old
    FROM pairs o
    WHERE o.iou > 0.5
),
carried AS (
    SELECT * FROM ranked WHERE rank_for_new = 1 AND rank_for_old = 1
),
inserted AS (
    INSERT INTO video_face_detections (
        video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y, bbox_width, bbox_height, quality_score,
        matched_creator_id, match_confidence, match_status, decided_at, crop_path, cluster_id)
    SELECT %(video_id)s, n.frame_timestamp, n.frame_index, n.embedding, n.bbox_x, n.bbox_y, n.bbox_width,
           n.bbox_height, n.quality_score,
           CASE WHEN c.decided THEN c.matched_creator_id END,
           CASE WHEN c.decided THEN c.match_confidence END,
           CASE WHEN c.decided THEN c.match_status ELSE 'pending' END,
           CASE WHEN c.decided THEN c.decided_at END,
           n.crop_path,
           c.cluster_id
    FROM new_faces n
    LEFT JOIN carried c ON c.ord = n.ord
    ORDER BY n.ord
    RETURNING id
)
SELECT (SELECT count(*) FROM inserted) AS inserted,
       (SELECT count(*) FROM carried WHERE decided) AS decisions_carried,
       (SELECT count(*) FROM old WHERE decided) - (SELECT count(*) FROM carried WHERE decided) AS decisions_dropped;
