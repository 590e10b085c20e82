-- %(n)s new open clusters; ids come from the sequence, so an id is never reused.
INSERT INTO face_clusters (status, size, n_videos) SELECT 'open', 0, 0 FROM generate_series(1, %(n)s)
RETURNING id;
