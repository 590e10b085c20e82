-- Creators whose name contains %(pattern)s (LIKE wildcards escaped by the caller) (case-insensitive), names starting with it first (autocomplete).
SELECT c.id, c.name
FROM creators c
WHERE c.name ILIKE '%%' || %(pattern)s || '%%' ESCAPE '\'
ORDER BY (c.name ILIKE %(pattern)s || '%%' ESCAPE '\') DESC, c.name
LIMIT %(limit)s;
