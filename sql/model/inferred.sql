-- The model a database's embeddings came from, inferred from the rows written before `face_model` existed (the same
-- rule sql/upgrades/0003_model.sql adopts with): the pack named by the scans of the videos holding the most faces,
-- else the one in the creator pictures' fingerprints (`model|size|mtime_ns|sha256`). No row: no embedding says.
SELECT name
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
LIMIT 1;
