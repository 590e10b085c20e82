-- The creators tagged on video %(video_id)s, with the tag's source and confidence.
SELECT vc.creator_id, c.name, vc.source, vc.confidence
FROM video_creators vc
JOIN creators c ON c.id = vc.creator_id
WHERE vc.video_id = %(video_id)s
ORDER BY c.name;
