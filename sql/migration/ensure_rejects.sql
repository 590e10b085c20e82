-- Whether migration_rejects and its index exist: rejects.sql (CREATE ... IF NOT EXISTS) takes a SHARE lock on
-- the table even when it exists, which would make tables loaded in parallel wait for one another.
SELECT to_regclass('migration_rejects') IS NOT NULL AND to_regclass('idx_migration_rejects_table') IS NOT NULL
