-- Staging table for one video's new detections, filled by COPY, dropped at the end of the transaction.
CREATE TEMP TABLE new_faces (
    ord INTEGER NOT NULL,                -- position in the COPY, to pair each new face with at most one old decision
    frame_index INTEGER NOT NULL,
    frame_timestamp REAL NOT NULL,
    bbox_x REAL NOT NULL,
    bbox_y REAL NOT NULL,
    bbox_width REAL NOT NULL,
    bbox_height REAL NOT NULL,
    quality_score REAL,
    embedding vector(512) NOT NULL,
    crop_path TEXT
) ON COMMIT DROP;
