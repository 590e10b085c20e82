-- The review queue grouped by (video, proposed creator): best similarity first, after the keyset cursor
-- (%(after_best)s, %(after_video)s, %(after_creator)s) when given. Each group: its faces' count, best and the ids of
-- its best %(faces_per_group)s faces, most similar first.
WITH g AS (
    SELECT d.video_id, d.matched_creator_id AS creator_id, max(COALESCE(d.match_confidence, -1)) AS best,
           count(*) AS faces, count(DISTINCT d.frame_index) AS frames,
           (array_agg(d.id ORDER BY COALESCE(d.match_confidence, -1) DESC, d.id))[1:%(faces_per_group)s] AS face_ids
    FROM video_face_detections d
    WHERE d.match_status = 'pending' AND d.matched_creator_id IS NOT NULL
    GROUP BY d.video_id, d.matched_creator_id
)
SELECT g.video_id, COALESCE(NULLIF(v.title, ''), v.file_name), g.creator_id, c.name, g.best, g.faces, g.frames,
       g.face_ids
FROM g
JOIN videos v ON v.id = g.video_id
LEFT JOIN creators c ON c.id = g.creator_id
WHERE %(after_video)s::int IS NULL
   OR (g.best, -g.video_id, -g.creator_id) < (%(after_best)s::real, -%(after_video)s::int, -%(after_creator)s::int)
ORDER BY g.best DESC, g.video_id, g.creator_id
LIMIT %(limit)s;
