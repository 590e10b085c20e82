-- Binary COPY of one video's new detections; column types: int4 int4 float4 float4 float4 float4 float4 float4 vector text.
COPY new_faces (ord, frame_index, frame_timestamp, bbox_x, bbox_y, bbox_width, bbox_height, quality_score, embedding, crop_path)
FROM STDIN (FORMAT BINARY)
