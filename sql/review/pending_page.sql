-- One page of the review queue: 'pending' faces with a proposed creator, most confident first (then newest id),
-- after the keyset cursor (%(after_confidence)s, %(after_id)s) when given; optionally of one video / one creator.
-- Keyset, not OFFSET: a deep page costs what the first one does (benchmarks: stage review_pages).
SELECT d.id, d.video_id, COALESCE(NULLIF(v.title, ''), v.file_name) AS video, d.matched_creator_id, c.name,
       d.match_confidence, d.frame_timestamp, d.frame_index, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height,
       COALESCE(d.match_confidence, -1) AS sort_key
FROM video_face_detections d
JOIN videos v ON v.id = d.video_id
LEFT JOIN creators c ON c.id = d.matched_creator_id
WHERE d.match_status = 'pending' AND d.matched_creator_id IS NOT NULL
  AND (%(video_id)s::int IS NULL OR d.video_id = %(video_id)s::int)
  AND (%(creator_id)s::int IS NULL OR d.matched_creator_id = %(creator_id)s::int)
  AND (%(after_id)s::int IS NULL
       OR (COALESCE(d.match_confidence, -1), d.id) < (%(after_confidence)s::real, %(after_id)s::int))
ORDER BY COALESCE(d.match_confidence, -1) DESC, d.id DESC
LIMIT %(limit)s;
