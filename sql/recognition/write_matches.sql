-- Store the nearest allowed creator of each matched face, one batch of faces per statement, with the evidence the
-- fusion rule reads (face_assets.recognition.evidence): the runner-up creator and its similarity, and the similarity
-- to the creator's anchor references. A face already 'matched' to the same creator stays 'matched' (the evidence
-- step then confirms or demotes it), so an unchanged face is not rewritten.
-- The WHERE repeats the decision guard: a face a person decided on between reading and writing keeps the decision.
UPDATE video_face_detections d
SET matched_creator_id = n.creator_id,
    match_confidence = n.similarity,
    match_status = n.status,
    runner_up_creator_id = n.runner_up_creator_id,
    runner_up_confidence = n.runner_up_similarity,
    anchor_confidence = n.anchor_similarity
FROM (
    -- A face not proposed (below match_threshold, or no allowed creator) is 'unmatched' with no creator.
    SELECT x.id,
           CASE WHEN u.proposed THEN u.creator_id END AS creator_id,
           CASE WHEN u.proposed THEN u.similarity END AS similarity,
           CASE WHEN u.proposed THEN NULLIF(u.runner_up_creator_id, 0) END AS runner_up_creator_id,
           CASE WHEN u.proposed AND u.runner_up_creator_id <> 0 THEN u.runner_up_similarity END AS runner_up_similarity,
           CASE WHEN u.proposed THEN u.anchor_similarity END AS anchor_similarity,
           CASE WHEN NOT u.proposed THEN 'unmatched'
                WHEN x.match_status = 'matched' AND x.matched_creator_id = u.creator_id THEN 'matched'
                ELSE 'pending' END AS status
    FROM unnest(%(ids)s::int[], %(creator_ids)s::int[], %(similarities)s::real[], %(proposed)s::boolean[],
                %(runner_up_creator_ids)s::int[], %(runner_up_similarities)s::real[], %(anchor_similarities)s::real[])
         AS u(id, creator_id, similarity, proposed, runner_up_creator_id, runner_up_similarity, anchor_similarity)
    JOIN video_face_detections x ON x.id = u.id
) n
WHERE d.id = n.id
  AND d.decided_at IS NULL
  AND d.match_status IN ('pending', 'matched', 'unmatched')
  AND (d.matched_creator_id IS DISTINCT FROM n.creator_id
       OR d.match_confidence IS DISTINCT FROM n.similarity
       OR d.match_status IS DISTINCT FROM n.status
       OR d.runner_up_creator_id IS DISTINCT FROM n.runner_up_creator_id
       OR d.runner_up_confidence IS DISTINCT FROM n.runner_up_similarity
       OR d.anchor_confidence IS DISTINCT FROM n.anchor_similarity);
