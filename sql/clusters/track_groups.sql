-- The must-link groups of the tracks (video_face_tracks: faces linked over consecutive sampled frames, one person on
-- screen): each candidate face (relation `cand` of the query this is put in: id, frame_index, gate) that is in a
-- track, with its track. Two faces of one frame are two people: should a track hold two candidate faces of one frame
-- (link_tracks never makes one), those faces are left out of its group, so they are never linked through it.
-- unchanged.sql digests these rows; clustering.py loads them (track_links.sql) and digests them the same way.
SELECT id, video_id, track
FROM (
    SELECT c.id, t.video_id, t.track,
           count(*) OVER (PARTITION BY t.video_id, t.track, c.frame_index) AS in_frame
    FROM cand c
    JOIN video_face_track_faces t ON t.detection_id = c.id
    WHERE c.gate IS NULL
) f
WHERE in_frame = 1
