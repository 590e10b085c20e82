-- Timeline tracks of videos %(video_ids)s left without a face (all theirs were forgotten).
DELETE FROM video_face_tracks t
WHERE t.video_id = ANY(%(video_ids)s::int[])
  AND NOT EXISTS (SELECT 1 FROM video_face_track_faces f WHERE f.video_id = t.video_id AND f.track = t.track);
