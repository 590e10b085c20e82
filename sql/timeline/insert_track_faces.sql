-- Each face's track, from parallel arrays (one element per face).
INSERT INTO video_face_track_faces (detection_id, video_id, track)
SELECT * FROM unnest(%(detection_ids)s::int[], %(video_ids)s::int[], %(tracks)s::int[]);
