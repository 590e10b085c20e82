SELECT id FROM creators WHERE id = ANY(%(ids)s::int[]);
