-- One library scan at a time (sensor ticks, `face-assets run`): held until the scan's transaction ends.
SELECT pg_advisory_xact_lock(hashtext('face_assets.library_scan'));
