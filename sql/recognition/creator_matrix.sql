-- Every creator embedding, grouped by creator (the matcher reduces per creator over contiguous rows), with whether it
-- was learned automatically (1) or is an anchor a person stands behind (0), and the video a learned one comes from
-- (0 for anchors): a learned reference is never evidence for the faces of its own video (that would count the same
-- evidence twice, and a face would match itself). A forgotten creator (face_assets.review.forget) is never matched.
SELECT e.creator_id, (e.learned_from IS NOT NULL)::int AS learned, COALESCE(d.video_id, 0) AS learned_video,
       e.embedding
FROM creator_face_embeddings e
LEFT JOIN video_face_detections d ON d.id = e.learned_from
WHERE NOT EXISTS (SELECT 1 FROM forgotten_creators f WHERE f.creator_id = e.creator_id)
ORDER BY e.creator_id, e.id;
