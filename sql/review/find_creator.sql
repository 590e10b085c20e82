-- A creator by id (when %(id)s is not NULL) or by name: exact first, then the same name in another case.
SELECT c.id, c.name, (c.name = %(name)s) AS exact
FROM creators c
WHERE (%(id)s::int IS NOT NULL AND c.id = %(id)s::int)
   OR (%(id)s::int IS NULL AND lower(c.name) = lower(%(name)s))
ORDER BY exact DESC, c.id;
