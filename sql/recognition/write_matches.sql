-- Store the nearest allowed creator of each matched face, in one statement. A face already 'matched' to the same
-- creator stays 'matched' (the evidence step then confirms or demotes it), so an unchanged face is not rewritten.
-- The WHERE repeats the decision guard: a face a person decided on between reading and writing keeps the decision.
UPDATE video_face_detections d
SET matched_creator_id = n.creator_id,
    match_confidence = n.similarity,
    match_status = n.status
FROM (
    SELECT x.id, u.creator_id, u.similarity,
           CASE WHEN u.status = 'pending' AND x.match_status = 'matched' AND x.matched_creator_id = u.creator_id
                THEN 'matched' ELSE u.status END AS status
    FROM unnest(%(ids)s::int[], %(creator_ids)s::int[], %(similarities)s::real[], %(statuses)s::text[])
         AS u(id, creator_id, similarity, status)
    JOIN video_face_detections x ON x.id = u.id
) n
WHERE d.id = n.id
  AND d.decided_at IS NULL
  AND d.match_status IN ('pending', 'matched', 'unmatched')
  AND (d.matched_creator_id IS DISTINCT FROM n.creator_id
       OR d.match_confidence IS DISTINCT FROM n.similarity
       OR d.match_status IS DISTINCT FROM n.status);
