-- Stored lists that are rewritten or gone (faces no longer candidates, deleted, changed). A full run empties the
-- table instead (TRUNCATE).
DELETE FROM face_neighbours WHERE face_id = ANY(%(ids)s::int[]);
