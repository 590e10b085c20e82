-- Rejects of one table from the staging table: whole rows kept out, and rows whose bad values were NULLed.
INSERT INTO migration_rejects (table_name, source_key, source_row, reason, disposition, columns)
SELECT %(table)s,
       {key},
       _row,
       CASE WHEN _reason IS NOT NULL THEN _reason
            ELSE 'set to NULL: ' || array_to_string(_why, '; ') END,
       CASE WHEN _reason IS NOT NULL THEN 'row_rejected' ELSE 'value_nulled' END,
       _bad
FROM {stage}
WHERE _reason IS NOT NULL OR cardinality(_bad) > 0
ORDER BY _n
