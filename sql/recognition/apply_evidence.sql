-- Faces follow their (video, creator)'s verdict: 'matched' when the pair is auto-tagged (%(tag_videos)s,
-- %(tag_creators)s), otherwise 'pending' at or above match_threshold and 'unmatched' below. Undecided rows only.
UPDATE video_face_detections d
SET match_status = n.status,
    matched_creator_id = CASE WHEN n.status = 'unmatched' THEN NULL ELSE d.matched_creator_id END,
    match_confidence = CASE WHEN n.status = 'unmatched' THEN NULL ELSE d.match_confidence END
FROM (
    SELECT x.id,
           CASE WHEN x.matched_creator_id IS NULL OR x.match_confidence IS NULL
                     OR x.match_confidence < %(match_threshold)s THEN 'unmatched'
                WHEN t.video_id IS NOT NULL THEN 'matched'
                ELSE 'pending' END AS status
    FROM video_face_detections x
    LEFT JOIN unnest(%(tag_videos)s::int[], %(tag_creators)s::int[]) AS t(video_id, creator_id)
           ON t.video_id = x.video_id AND t.creator_id = x.matched_creator_id
    WHERE x.video_id = ANY(%(video_ids)s::int[])
      AND x.decided_at IS NULL AND x.match_status IN ('pending', 'matched', 'unmatched')
) n
WHERE d.id = n.id AND d.match_status IS DISTINCT FROM n.status
RETURNING n.status;
