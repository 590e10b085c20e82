-- Auto-tags: video_creators rows with source 'face_recognition'. A tag that exists already (legacy, manual, or
-- ours) is never duplicated; only our own tags get their confidence refreshed, legacy and manual ones stay as they
-- are. Returns one row per tag written, `inserted` true for new ones.
INSERT INTO video_creators (video_id, creator_id, source, confidence)
SELECT video_id, creator_id, 'face_recognition', confidence
FROM unnest(%(videos)s::int[], %(creators)s::int[], %(confidences)s::real[]) AS t(video_id, creator_id, confidence)
ON CONFLICT (video_id, creator_id) DO UPDATE
    SET confidence = EXCLUDED.confidence
    WHERE video_creators.source = 'face_recognition'
      AND video_creators.confidence IS DISTINCT FROM EXCLUDED.confidence
RETURNING (xmax = 0) AS inserted;
