-- Where a creator appears: per video, its intervals in time order (creator page, search results).
SELECT a.creator_id, a.video_id, v.title, a.start_seconds, a.end_seconds, a.status, a.confidence, a.best_detection_id
FROM face_appearances a
JOIN videos v ON v.id = a.video_id
WHERE a.creator_id = ANY(%(creator_ids)s::int[])
ORDER BY a.creator_id, a.video_id, a.start_seconds
LIMIT %(limit)s;
