-- A cheap summary of creator_face_embeddings, the rematch job's high-water mark. Rows are upserted in place (ids
-- kept), so (count, sum of ids) changes whenever rows are added or deleted, and max(updated_at) when one changes.
SELECT count(*) AS n, COALESCE(sum(id), 0) AS id_sum, max(GREATEST(created_at, updated_at)) AS max_changed_at
FROM creator_face_embeddings;
