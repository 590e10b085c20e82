-- The vetoed creators of the faces detections_to_match.sql selects (same parameters): by detection id, or by the
-- same place (video, frame, box IoU > 0.5) for vetoes recorded on an earlier detection of the same face.
-- Read before the faces' COPY starts (no other statement can run on the connection during it).
SELECT DISTINCT d.id, r.creator_id
FROM video_face_detections d
JOIN face_match_rejections r ON r.video_id = d.video_id AND r.frame_index = d.frame_index
CROSS JOIN LATERAL (
    SELECT GREATEST(0, LEAST(d.bbox_x + d.bbox_width, r.bbox_x + r.bbox_width) - GREATEST(d.bbox_x, r.bbox_x))
         * GREATEST(0, LEAST(d.bbox_y + d.bbox_height, r.bbox_y + r.bbox_height) - GREATEST(d.bbox_y, r.bbox_y))
           AS inter
) i
WHERE d.decided_at IS NULL
  AND d.match_status = ANY(%(statuses)s::text[])
  AND d.match_status NOT IN ('manual', 'rejected')
  AND (%(video_ids)s::int[] IS NULL OR d.video_id = ANY(%(video_ids)s::int[]))
  AND (%(detection_ids)s::int[] IS NULL OR d.id = ANY(%(detection_ids)s::int[]))
  AND (r.detection_id = d.id
       OR i.inter / NULLIF(d.bbox_width * d.bbox_height + r.bbox_width * r.bbox_height - i.inter, 0) > 0.5);
