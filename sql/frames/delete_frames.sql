-- Drop a video's sampled frames before its new frames are copied in (same transaction: readers see old or new).
DELETE FROM video_frames WHERE video_id = %(video_id)s;
