-- The faces changed in place since the last run (trigger on video_face_detections, sql/face/schema.sql); the log is
-- emptied in the run's transaction (a rollback puts the entries back).
DELETE FROM face_neighbour_changes RETURNING face_id;
