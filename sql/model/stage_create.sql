-- The faces of one video embedded by the new model, COPYed here before they are staged (face_embeddings_next).
CREATE TEMP TABLE IF NOT EXISTS staged_faces (
    detection_id INTEGER NOT NULL,
    video_id INTEGER NOT NULL,
    frame_index INTEGER NOT NULL,
    bbox_x REAL NOT NULL,
    bbox_y REAL NOT NULL,
    bbox_width REAL NOT NULL,
    bbox_height REAL NOT NULL,
    embedding vector(512) NOT NULL,
    landmarks TEXT NOT NULL
) ON COMMIT DROP;
TRUNCATE staged_faces;  -- a second video in the same transaction (the switch) starts from nothing
