-- When the candidates are a small share of all faces, filtering the shared index would scan many non-candidates
-- per face: the candidates get their own HNSW index instead, in a temporary table (dropped at commit).
DROP TABLE IF EXISTS pg_temp.cluster_faces;
CREATE TEMP TABLE cluster_faces ON COMMIT DROP AS
SELECT d.id, d.video_id, d.frame_index, d.embedding
FROM video_face_detections d
JOIN cluster_candidates c ON c.id = d.id;
CREATE INDEX ON cluster_faces USING hnsw ((embedding::halfvec(512)) halfvec_cosine_ops);  -- as idx_video_faces_embedding
CREATE UNIQUE INDEX ON cluster_faces (id);
ANALYZE cluster_faces;
