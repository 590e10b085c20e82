-- Store the nearest allowed creator of each matched face, one batch of faces per statement. A face already 'matched' to the same
-- creator stays 'matched' (the evidence step then confirms or demotes it), so an unchanged face is not rewritten.
-- The WHERE repeats the decision guard: a face a person decided on between reading and writing keeps the decision.
UPDATE video_face_detections d
SET matched_creator_id = n.creator_id,
    match_confidence = n.similarity,
    match_status = n.status
FROM (
    -- A face not proposed (below match_threshold, or no allowed creator) is 'unmatched' with no creator.
    SELECT x.id,
           CASE WHEN u.proposed THEN u.creator_id END AS creator_id,
           CASE WHEN u.proposed THEN u.similarity END AS similarity,
           CASE WHEN NOT u.proposed THEN 'unmatched'
                WHEN x.match_status = 'matched' AND x.matched_creator_id = u.creator_id THEN 'matched'
                ELSE 'pending' END AS status
    FROM unnest(%(ids)s::int[], %(creator_ids)s::int[], %(similarities)s::real[], %(proposed)s::boolean[])
         AS u(id, creator_id, similarity, proposed)
    JOIN video_face_detections x ON x.id = u.id
) n
WHERE d.id = n.id
  AND d.decided_at IS NULL
  AND d.match_status IN ('pending', 'matched', 'unmatched')
  AND (d.matched_creator_id IS DISTINCT FROM n.creator_id
       OR d.match_confidence IS DISTINCT FROM n.similarity
       OR d.match_status IS DISTINCT FROM n.status);
