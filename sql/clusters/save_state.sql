-- The settings the stored lists were computed with, and the links digest (see state_check.sql; unchanged.sql
-- compares both).
INSERT INTO face_neighbour_state (id, params, links, updated_at)
VALUES (true, %(params)s, %(links)s, CURRENT_TIMESTAMP)
ON CONFLICT (id) DO UPDATE SET params = EXCLUDED.params, links = EXCLUDED.links, updated_at = EXCLUDED.updated_at;
