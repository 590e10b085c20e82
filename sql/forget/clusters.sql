-- Clusters that were the forgotten person: %(ids)s, the clusters named as creator %(creator_id)s, and every cluster
-- merged into one of them (at any depth). Proposals pairing them with another cluster go with them (kind 'merge';
-- their own proposals by ON DELETE CASCADE), and the kept neighbour lists forget they were there.
WITH RECURSIVE family AS (
    SELECT id FROM face_clusters WHERE id = ANY(%(ids)s::int[]) OR creator_id = %(creator_id)s
    UNION
    SELECT c.id FROM face_clusters c JOIN family f ON c.merged_into = f.id
),
lists AS (
    UPDATE face_neighbours SET cluster_id = NULL WHERE cluster_id IN (SELECT id FROM family) RETURNING 1
),
proposals AS (
    DELETE FROM cluster_proposals WHERE kind = 'merge' AND other_cluster_id IN (SELECT id FROM family) RETURNING 1
)
DELETE FROM face_clusters c
WHERE c.id IN (SELECT id FROM family)
RETURNING c.id;
