COPY staged_faces (detection_id, video_id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height, embedding, landmarks)
FROM STDIN (FORMAT BINARY)
