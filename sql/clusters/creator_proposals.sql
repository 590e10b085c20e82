-- This run's cluster proposals (kinds, clusters, creators, other clusters, evidence as arrays): new ones are added,
-- open ones get the new evidence, open ones no longer supported become 'stale'; rejected and accepted ones stay
-- as a person left them. A creator a person rejected for a face of the cluster is never proposed (vetoes).
WITH current AS (
    SELECT * FROM unnest(%(kinds)s::text[], %(cluster_ids)s::int[], %(creator_ids)s::int[],
                         %(other_ids)s::int[], %(evidence)s::real[])
        AS p(kind, cluster_id, creator_id, other_cluster_id, evidence)
    WHERE NOT EXISTS (SELECT 1 FROM video_face_detections d JOIN face_match_rejections r ON r.detection_id = d.id
                      WHERE p.kind = 'creator' AND d.cluster_id = p.cluster_id AND r.creator_id = p.creator_id)
),
staled AS (
    UPDATE cluster_proposals o SET status = 'stale', updated_at = now()
    WHERE o.status = 'open' AND NOT EXISTS (
        SELECT 1 FROM current c WHERE (c.kind, c.cluster_id, c.creator_id, c.other_cluster_id)
                                      = (o.kind, o.cluster_id, o.creator_id, o.other_cluster_id))
    RETURNING 1
)
INSERT INTO cluster_proposals (kind, cluster_id, creator_id, other_cluster_id, evidence)
SELECT kind, cluster_id, creator_id, other_cluster_id, evidence FROM current
ON CONFLICT (kind, cluster_id, creator_id, other_cluster_id) DO UPDATE
    SET evidence = EXCLUDED.evidence, updated_at = now(),
        status = CASE WHEN cluster_proposals.status = 'stale' THEN 'open' ELSE cluster_proposals.status END
    WHERE cluster_proposals.status IN ('open', 'stale')
RETURNING kind, cluster_id, creator_id, other_cluster_id, status;
