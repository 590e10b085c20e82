-- creator_embedding_issues becomes exactly this run's problems (every picture is checked on every run): problems
-- gone are deleted, new ones inserted, a changed reason or fingerprint updated; an unchanged problem keeps its
-- recorded_at.
WITH current AS (
    SELECT * FROM unnest(%(creator_ids)s::int[], %(paths)s::text[], %(reasons)s::text[], %(fingerprints)s::text[])
        AS c(creator_id, source_path, reason, source_fingerprint)
),
gone AS (
    DELETE FROM creator_embedding_issues i
    WHERE NOT EXISTS (SELECT 1 FROM current c WHERE c.creator_id = i.creator_id AND c.source_path = i.source_path)
    RETURNING 1
)
INSERT INTO creator_embedding_issues (creator_id, source_path, reason, source_fingerprint)
SELECT creator_id, source_path, reason, source_fingerprint FROM current
ON CONFLICT (creator_id, source_path) DO UPDATE
    SET reason = EXCLUDED.reason,
        source_fingerprint = EXCLUDED.source_fingerprint,
        recorded_at = CASE WHEN creator_embedding_issues.reason IS DISTINCT FROM EXCLUDED.reason
                           THEN now() ELSE creator_embedding_issues.recorded_at END
    WHERE creator_embedding_issues.reason IS DISTINCT FROM EXCLUDED.reason
       OR creator_embedding_issues.source_fingerprint IS DISTINCT FROM EXCLUDED.source_fingerprint;
