-- Tracks from parallel arrays (one element per track).
INSERT INTO video_face_tracks (video_id, track, start_seconds, end_seconds, faces)
SELECT * FROM unnest(%(video_ids)s::int[], %(tracks)s::int[], %(starts)s::float8[], %(ends)s::float8[],
                     %(faces)s::int[]);
