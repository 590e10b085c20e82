-- Rows of the staging table kept out, and rows kept with NULLed values.
SELECT count(*) FILTER (WHERE _reason IS NOT NULL),
       count(*) FILTER (WHERE _reason IS NULL AND cardinality(_bad) > 0)
FROM {stage}
