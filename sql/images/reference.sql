-- The file behind a creator embedding: its picture, or for a video face (confirmed: source_path 'detection:<id>';
-- learned automatically: learned_from) the face's crop.
SELECT CASE WHEN e.source_type = 'video_frame' THEN d.crop_path ELSE e.source_path END
FROM creator_face_embeddings e
LEFT JOIN video_face_detections d
       ON d.id = COALESCE(e.learned_from, CASE WHEN e.source_path LIKE 'detection:%%' THEN substr(e.source_path, 11)::int END)
WHERE e.id = %s;
