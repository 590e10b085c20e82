-- Whether a loaded table holds a row whose foreign key finds no parent row (MATCH SIMPLE: a NULL in the key skips
-- the check, as PostgreSQL's own check does). {present}: the key columns NOT NULL; {match}: the join on them.
SELECT EXISTS (
    SELECT 1 FROM {child} c
    WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match})
)
