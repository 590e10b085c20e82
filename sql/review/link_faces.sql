-- Faces %(ids)s were put in one cluster by a person: one link group (%(link_group)s), absorbing any group one of
-- them was in already, so that clustering keeps them together.
WITH absorbed AS (
    UPDATE face_cluster_links SET link_group = %(link_group)s
    WHERE link_group IN (SELECT link_group FROM face_cluster_links WHERE detection_id = ANY(%(ids)s::int[]))
    RETURNING detection_id
)
INSERT INTO face_cluster_links (detection_id, link_group)
SELECT id, %(link_group)s FROM unnest(%(ids)s::int[]) AS u(id)
WHERE id NOT IN (SELECT detection_id FROM absorbed)
ON CONFLICT (detection_id) DO UPDATE SET link_group = EXCLUDED.link_group, linked_at = CURRENT_TIMESTAMP;
