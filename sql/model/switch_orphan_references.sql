-- A known face whose video face is gone cannot be re-embedded: its embedding by the old model goes.
DELETE FROM creator_face_embeddings e
WHERE e.source_type = 'video_frame'
  AND NOT EXISTS (
      SELECT 1 FROM video_face_detections d WHERE d.id = substring(e.source_path FROM ':([0-9]+)$')::int
  );
