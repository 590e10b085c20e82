-- What was staged for videos %(video_ids)s, before their faces are staged again.
DELETE FROM face_embeddings_next WHERE video_id = ANY(%(video_ids)s::int[]);
