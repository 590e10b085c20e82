-- A watched_directories row for a FACE_ASSETS_LIBRARY root (the directory_id of its videos). Inserted inactive:
-- the environment variable stays the source of truth for whether the root is scanned.
WITH inserted AS (
    INSERT INTO watched_directories (path, is_active, auto_scan)
    VALUES (%(path)s, false, false)
    ON CONFLICT (path) DO NOTHING
    RETURNING id
)
SELECT id FROM inserted
UNION ALL
SELECT id FROM watched_directories WHERE path = %(path)s
LIMIT 1;
