-- The candidate faces' track groups (track_groups.sql), for the candidates of this run: parallel arrays of their ids
-- and frames (all pass the quality gates).
WITH cand AS (
    SELECT id, frame_index, NULL::text AS gate
    FROM unnest(%(ids)s::int[], %(frames)s::int[]) AS c (id, frame_index)
)
SELECT * FROM ({track_groups}) g
ORDER BY id;
