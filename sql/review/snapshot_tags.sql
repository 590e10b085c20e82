-- Creator tags of %(video_ids)s (to report what a decision changed).
SELECT vc.video_id, vc.creator_id, vc.source, vc.confidence
FROM video_creators vc
WHERE vc.video_id = ANY(%(video_ids)s::int[]);
