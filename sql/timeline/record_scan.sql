-- What adaptive sampling cost a video (asset timeline_frames).
INSERT INTO video_timeline_scans (video_id, resolution_seconds, first_pass_frames, added_frames, frames, probes,
                                  bisections, doubts, rounds, seconds, scanned_at)
VALUES (%(video_id)s, %(resolution)s, %(first_pass_frames)s, %(added_frames)s, %(frames)s, %(probes)s,
        %(bisections)s, %(doubts)s, %(rounds)s, %(seconds)s, CURRENT_TIMESTAMP)
ON CONFLICT (video_id) DO UPDATE SET
    resolution_seconds = EXCLUDED.resolution_seconds, first_pass_frames = EXCLUDED.first_pass_frames,
    added_frames = EXCLUDED.added_frames, frames = EXCLUDED.frames, probes = EXCLUDED.probes,
    bisections = EXCLUDED.bisections, doubts = EXCLUDED.doubts, rounds = EXCLUDED.rounds,
    seconds = EXCLUDED.seconds, scanned_at = EXCLUDED.scanned_at;
