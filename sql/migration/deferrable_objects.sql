-- What a first bulk load into an empty table rebuilds afterwards instead of maintaining row by row:
-- its indexes that back no constraint (kind 'index'), and its foreign keys (kind 'fkey', validated in one pass).
SELECT 'index' AS kind, i.indexname AS name, i.indexdef AS definition
FROM pg_indexes i
WHERE i.schemaname = current_schema() AND i.tablename = %(table)s
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = format('%%I.%%I', i.schemaname, i.indexname)::regclass)
UNION ALL
SELECT 'fkey', c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.conrelid = format('%%I', %(table)s)::regclass AND c.contype = 'f'
