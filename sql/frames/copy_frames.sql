-- Bulk load of one video's sampled frames; binary COPY, column types: int4 int4 float8 text int4 int4 float4.
COPY video_frames (video_id, frame_index, timestamp_seconds, path, width, height, sharpness)
FROM STDIN (FORMAT BINARY)
