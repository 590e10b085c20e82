-- Waiting or erroring files that are gone from a present root: nothing left to wait for.
DELETE FROM library_files lf
WHERE lf.status IN ('waiting', 'error')
  AND EXISTS (SELECT 1 FROM unnest(%(root_prefixes)s::text[]) r(prefix) WHERE starts_with(lf.path, r.prefix))
  AND NOT EXISTS (SELECT 1 FROM unnest(%(unknown_prefixes)s::text[]) u(prefix) WHERE starts_with(lf.path, u.prefix))
  AND NOT EXISTS (SELECT 1 FROM library_scan_files s WHERE s.path = lf.path);
