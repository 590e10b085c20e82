-- The JPEG of a video's sampled frame.
SELECT path FROM video_frames WHERE video_id = %s AND frame_index = %s;
