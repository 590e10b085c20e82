-- Our own tags in %(video_ids)s whose evidence no longer passes (e.g. a person rejected the faces) and that no
-- person confirmed a face for (%(keep_videos)s, %(keep_creators)s list the pairs to keep). Never legacy/manual tags.
DELETE FROM video_creators vc
WHERE vc.source = 'face_recognition'
  AND vc.video_id = ANY(%(video_ids)s::int[])
  AND NOT EXISTS (
      SELECT 1 FROM unnest(%(keep_videos)s::int[], %(keep_creators)s::int[]) AS k(video_id, creator_id)
      WHERE k.video_id = vc.video_id AND k.creator_id = vc.creator_id)
RETURNING vc.video_id, vc.creator_id;
