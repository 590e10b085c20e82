-- A video's tracks (their faces go with them) before they are linked again.
DELETE FROM video_face_tracks WHERE video_id = ANY(%(video_ids)s::int[]);
