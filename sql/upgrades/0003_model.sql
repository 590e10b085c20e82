-- One model per database (face_assets.recognition.model_record): the model pack the embeddings came from, a change of
-- model in progress (`face-assets reembed --model NAME`), and the faces it has embedded with the new model so far.

-- One row: the pack's name and fingerprint (a hash of its .onnx files). Set when the first embedding is written, or
-- by a finished `reembed`; NULL fingerprint: adopted from rows written before this table existed, filled in the
-- first time a pack of that name is used.
CREATE TABLE IF NOT EXISTS face_model (
    id BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    name TEXT NOT NULL,
    fingerprint TEXT,
    source TEXT NOT NULL CHECK (source IN ('first_embedding', 'adopted', 'reembed')),
    recorded_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- A database with embeddings from before adopts the model that wrote them: the pack named by the scans of the videos
-- holding the most faces, else the one in the creator pictures' fingerprints (`model|size|mtime_ns|sha256`). A pack
-- given as a folder path counts by its folder's name.
INSERT INTO face_model (name, source)
SELECT name, 'adopted'
FROM (
    SELECT regexp_replace(rtrim(s.model, '/'), '^.*/', '') AS name, count(*) AS faces, 1 AS rank
    FROM video_face_detections d
    JOIN video_face_scans s ON s.video_id = d.video_id
    WHERE s.model IS NOT NULL
    GROUP BY 1
    UNION ALL
    SELECT split_part(source_fingerprint, '|', 1), count(*), 2
    FROM creator_face_embeddings
    WHERE source_type IN ('profile_picture', 'manual') AND source_fingerprint LIKE '%|%|%|%'
    GROUP BY 1
) seen
WHERE name <> ''
ORDER BY rank, faces DESC, name
LIMIT 1
ON CONFLICT (id) DO NOTHING;

-- The change of model in progress (one row at most): the pack the faces are being re-embedded with, and where.
CREATE TABLE IF NOT EXISTS face_model_change (
    id BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    folder TEXT NOT NULL,
    started_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- A face's embedding by the new model, staged until the switch. The place it was computed for (frame and box) is
-- kept: a face re-detected in the meantime (same id, another box) no longer matches it and is embedded again.
CREATE TABLE IF NOT EXISTS face_embeddings_next (
    detection_id INTEGER PRIMARY KEY REFERENCES video_face_detections(id) ON DELETE CASCADE,
    video_id INTEGER NOT NULL,
    frame_index INTEGER NOT NULL,
    bbox_x REAL NOT NULL,
    bbox_y REAL NOT NULL,
    bbox_width REAL NOT NULL,
    bbox_height REAL NOT NULL,
    embedding vector(512) NOT NULL,
    -- where the landmarks that aligned the face came from: the new detector on the frame, on a crop around the box,
    -- or estimated from the box when the new detector misses a face the old one found
    landmarks TEXT NOT NULL CHECK (landmarks IN ('frame', 'crop', 'box')),
    embedded_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_face_embeddings_next_video ON face_embeddings_next (video_id);
