-- Replace one video's detections by the staged `new_faces`, in one statement (run inside the video's transaction).
--
-- A new detection of the same face as an old row (same frame_index, box IoU > 0.5; pairs one-to-one, each side
-- keeping its best-overlapping partner) UPDATES that row in place: the face keeps its id, its cluster and its
-- match, and a review decision a person made (match_status 'manual' or 'rejected', or decided_at set) stays.
-- Old rows with no new partner are deleted; new faces with no old partner are inserted as 'pending'.
-- So re-detecting an unchanged video changes no id. Returns the number of faces written (updated + inserted),
-- decisions kept, and decisions whose face was not found again (deleted).
WITH old AS (
    SELECT id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height,
           (match_status IN ('manual', 'rejected') OR decided_at IS NOT NULL) AS decided
    FROM video_face_detections
    WHERE video_id = %(video_id)s
),
pairs AS (
    SELECT n.ord, d.id AS old_id, d.decided,
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
    SELECT p.*,
           row_number() OVER (PARTITION BY p.ord ORDER BY p.iou DESC, p.old_id) AS rank_for_new,
           row_number() OVER (PARTITION BY p.old_id ORDER BY p.iou DESC, p.ord) AS rank_for_old
    FROM pairs p
    WHERE p.iou > 0.5
),
carried AS (
    SELECT * FROM ranked WHERE rank_for_new = 1 AND rank_for_old = 1
),
updated AS (
    UPDATE video_face_detections d
    SET frame_timestamp = n.frame_timestamp, embedding = n.embedding, bbox_x = n.bbox_x, bbox_y = n.bbox_y,
        bbox_width = n.bbox_width, bbox_height = n.bbox_height, quality_score = n.quality_score,
        crop_path = n.crop_path
    FROM carried c JOIN new_faces n ON n.ord = c.ord
    WHERE d.id = c.old_id
    RETURNING d.id
),
deleted AS (
    DELETE FROM video_face_detections d
    WHERE d.video_id = %(video_id)s AND NOT EXISTS (SELECT 1 FROM carried c WHERE c.old_id = d.id)
    RETURNING d.id
),
inserted AS (
    INSERT INTO video_face_detections (
        video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y, bbox_width, bbox_height, quality_score,
        match_status, crop_path)
    SELECT %(video_id)s, n.frame_timestamp, n.frame_index, n.embedding, n.bbox_x, n.bbox_y, n.bbox_width,
           n.bbox_height, n.quality_score, 'pending', n.crop_path
    FROM new_faces n
    WHERE NOT EXISTS (SELECT 1 FROM carried c WHERE c.ord = n.ord)
    ORDER BY n.ord
    RETURNING id
)
SELECT (SELECT count(*) FROM updated) + (SELECT count(*) FROM inserted) AS inserted,
       (SELECT count(*) FROM carried WHERE decided) AS decisions_carried,
       (SELECT count(*) FROM old WHERE decided) - (SELECT count(*) FROM carried WHERE decided) AS decisions_dropped;
