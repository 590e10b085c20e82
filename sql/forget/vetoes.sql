-- Vetoes that speak of the forgotten person: about creator %(creator_id)s (NULL for a cluster), or about a forgotten
-- face, by its id or by its place (same frame, box IoU > 0.5: a veto kept from before a re-detection).
-- Returns (rejections removed, learned-reference vetoes removed).
WITH places AS (
    SELECT d.id, d.video_id, d.frame_index, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height
    FROM video_face_detections d
    JOIN forget_faces f ON f.id = d.id
),
rejections AS (
    DELETE FROM face_match_rejections v
    WHERE v.creator_id = %(creator_id)s
       OR v.detection_id IN (SELECT id FROM places)
       OR EXISTS (
           SELECT 1 FROM places p
           CROSS JOIN LATERAL (
               SELECT GREATEST(0, LEAST(p.bbox_x + p.bbox_width, v.bbox_x + v.bbox_width) - GREATEST(p.bbox_x, v.bbox_x))
                    * GREATEST(0, LEAST(p.bbox_y + p.bbox_height, v.bbox_y + v.bbox_height) - GREATEST(p.bbox_y, v.bbox_y))
                      AS inter
           ) i
           WHERE p.video_id = v.video_id AND p.frame_index = v.frame_index
             AND i.inter / NULLIF(p.bbox_width * p.bbox_height + v.bbox_width * v.bbox_height - i.inter, 0) > 0.5)
    RETURNING 1
),
vetoes AS (
    DELETE FROM learned_reference_vetoes v
    WHERE v.creator_id = %(creator_id)s
       OR v.detection_id IN (SELECT id FROM places)
       OR EXISTS (
           SELECT 1 FROM places p
           CROSS JOIN LATERAL (
               SELECT GREATEST(0, LEAST(p.bbox_x + p.bbox_width, v.bbox_x + v.bbox_width) - GREATEST(p.bbox_x, v.bbox_x))
                    * GREATEST(0, LEAST(p.bbox_y + p.bbox_height, v.bbox_y + v.bbox_height) - GREATEST(p.bbox_y, v.bbox_y))
                      AS inter
           ) i
           WHERE p.video_id = v.video_id AND p.frame_index = v.frame_index
             AND i.inter / NULLIF(p.bbox_width * p.bbox_height + v.bbox_width * v.bbox_height - i.inter, 0) > 0.5)
    RETURNING 1
)
SELECT (SELECT count(*) FROM rejections), (SELECT count(*) FROM vetoes);
