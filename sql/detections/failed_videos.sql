-- Videos of the run whose frames or faces could not be produced, with the recorded reason.
SELECT video_id, coalesce(error, 'failed') FROM video_face_scans
WHERE video_id = ANY(%(video_ids)s) AND status = 'failed'
