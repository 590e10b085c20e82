-- Replace one video's detections by the staged `new_faces`, in one statement (run inside the video's transaction).
--
-- Review decisions survive re-detection: an old row a person decided on (match_status 'manual' or 'rejected',
-- or any row with decided_at set) hands match_status, matched_creator_id, match_confidence and decided_at to the
-- new detection of the same face: same frame_index and box IoU > 0.5. Pairs are one-to-one (each side keeps its
-- best-overlapping partner only). Every other new row starts as 'pending' for matching.
-- Returns the number of rows inserted, decisions carried over, and decisions that found no new face.
WITH old AS (
    DELETE FROM video_face_detections
    WHERE video_id = %(video_id)s
    RETURNING id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height,
              match_status, matched_creator_id, match_confidence, decided_at
),
decided AS (
    SELECT * FROM old
    WHERE match_status IN ('manual', 'rejected') OR decided_at IS NOT NULL
),
pairs AS (
    SELECT n.ord, d.id AS old_id, d.match_status, d.matched_creator_id, d.match_confidence, d.decided_at,
           inter / NULLIF(n.bbox_width * n.bbox_height + d.bbox_width * d.bbox_height - inter, 0) AS iou
    FROM new_faces n
    JOIN decided d ON d.frame_index = n.frame_index
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
        matched_creator_id, match_confidence, match_status, decided_at, crop_path)
    SELECT %(video_id)s, n.frame_timestamp, n.frame_index, n.embedding, n.bbox_x, n.bbox_y, n.bbox_width,
           n.bbox_height, n.quality_score,
           c.matched_creator_id, c.match_confidence, COALESCE(c.match_status, 'pending'), c.decided_at, n.crop_path
    FROM new_faces n
    LEFT JOIN carried c ON c.ord = n.ord
    ORDER BY n.ord
    RETURNING id
)
SELECT (SELECT count(*) FROM inserted) AS inserted,
       (SELECT count(*) FROM carried) AS decisions_carried,
       (SELECT count(*) FROM decided) - (SELECT count(*) FROM carried) AS decisions_dropped;
