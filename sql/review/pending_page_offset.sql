-- The review queue paged with OFFSET: the baseline the keyset query (pending_page.sql) is measured against
-- (benchmarks/bench_review_pages.py). Not used by the app.
SELECT d.id, d.video_id, COALESCE(NULLIF(v.title, ''), v.file_name) AS video, d.matched_creator_id, c.name,
       d.match_confidence, d.frame_timestamp, d.frame_index, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height,
       COALESCE(d.match_confidence, -1) AS sort_key
FROM video_face_detections d
JOIN videos v ON v.id = d.video_id
LEFT JOIN creators c ON c.id = d.matched_creator_id
WHERE d.match_status = 'pending' AND d.matched_creator_id IS NOT NULL
ORDER BY COALESCE(d.match_confidence, -1) DESC, d.id DESC
LIMIT %(limit)s OFFSET %(offset)s;
