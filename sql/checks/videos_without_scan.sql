-- Videos of this run that have sampled frames or faces but no video_face_scans row: "not processed" would be
-- reported for a video that was processed (the scan row is what tells "processed, no faces" from "not processed").
SELECT v.id
FROM unnest(%(video_ids)s::int[]) AS v(id)
WHERE NOT EXISTS (SELECT 1 FROM video_face_scans s WHERE s.video_id = v.id)
  AND (EXISTS (SELECT 1 FROM video_face_detections d WHERE d.video_id = v.id)
       OR EXISTS (SELECT 1 FROM video_frames f WHERE f.video_id = v.id))
ORDER BY v.id;
