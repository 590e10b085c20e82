-- Faces %(ids)s that may become learned references of their creator: auto-tagged ('matched', undecided), not learned
-- yet, never rejected for that creator by a person, never removed from its references by a person (both by the
-- face's id or by its place: same frame, box IoU > 0.5, as vetoes_to_match.sql).
SELECT d.id, d.matched_creator_id, d.embedding
FROM video_face_detections d
WHERE d.id = ANY(%(ids)s::int[])
  AND d.decided_at IS NULL AND d.match_status = 'matched' AND d.matched_creator_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM creator_face_embeddings e
                  WHERE e.learned_from = d.id AND e.creator_id = d.matched_creator_id)
  AND NOT EXISTS (
      SELECT 1 FROM (SELECT video_id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height, creator_id, detection_id
                     FROM face_match_rejections
                     UNION ALL
                     SELECT video_id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height, creator_id, detection_id
                     FROM learned_reference_vetoes) v
      CROSS JOIN LATERAL (
          SELECT GREATEST(0, LEAST(d.bbox_x + d.bbox_width, v.bbox_x + v.bbox_width) - GREATEST(d.bbox_x, v.bbox_x))
               * GREATEST(0, LEAST(d.bbox_y + d.bbox_height, v.bbox_y + v.bbox_height) - GREATEST(d.bbox_y, v.bbox_y))
                 AS inter
      ) i
      WHERE v.video_id = d.video_id AND v.frame_index = d.frame_index AND v.creator_id = d.matched_creator_id
        AND (v.detection_id = d.id
             OR i.inter / NULLIF(d.bbox_width * d.bbox_height + v.bbox_width * v.bbox_height - i.inter, 0) > 0.5))
ORDER BY d.id;
