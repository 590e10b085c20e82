-- The open clusters (the ones clustering may keep, change or dissolve; named and merged ones are never touched).
SELECT id FROM face_clusters WHERE status = 'open' ORDER BY id;
