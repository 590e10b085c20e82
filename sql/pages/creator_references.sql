-- The reference faces of creators %(ids)s (profile picture, reference folder images, confirmed video faces),
-- at most %(per_creator)s each, best quality first: what a proposal is compared with.
SELECT r.creator_id, r.id, r.source_type, r.source_path, r.quality_score, r.created_at
FROM (
    SELECT e.creator_id, e.id, e.source_type, e.source_path, e.quality_score, e.created_at,
           row_number() OVER (PARTITION BY e.creator_id
                              ORDER BY (e.source_type = 'profile_picture') DESC, e.quality_score DESC NULLS LAST,
                                       e.id) AS rank
    FROM creator_face_embeddings e
    WHERE e.creator_id = ANY(%(ids)s::int[])
) r
WHERE r.rank <= %(per_creator)s
ORDER BY r.creator_id, r.rank;
