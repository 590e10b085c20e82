-- The faces to (re-)match: undecided rows with one of %(statuses)s, optionally limited to videos and/or ids.
-- A row a person decided on (match_status 'manual' or 'rejected', or decided_at set) is never selected.
SELECT id, video_id, embedding
FROM video_face_detections
WHERE decided_at IS NULL
  AND match_status = ANY(%(statuses)s::text[])
  AND match_status NOT IN ('manual', 'rejected')
  AND (%(video_ids)s::int[] IS NULL OR video_id = ANY(%(video_ids)s::int[]))
  AND (%(detection_ids)s::int[] IS NULL OR id = ANY(%(detection_ids)s::int[]))
ORDER BY id;
