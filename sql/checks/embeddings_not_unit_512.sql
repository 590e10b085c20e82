-- Faces of these videos whose embedding is not a 512-d unit vector (ArcFace embeddings are L2-normalised: a
-- different length or norm means a model or write bug, and cosine thresholds would silently mean something else).
SELECT count(*) AS bad, min(id) AS first_id, count(*) FILTER (WHERE vector_dims(embedding) <> 512) AS wrong_dims,
       count(*) FILTER (WHERE vector_dims(embedding) = 512 AND abs(vector_norm(embedding) - 1) > %(tolerance)s) AS not_unit
FROM video_face_detections
WHERE video_id = ANY(%(video_ids)s)
  AND (vector_dims(embedding) <> 512 OR abs(vector_norm(embedding) - 1) > %(tolerance)s);
