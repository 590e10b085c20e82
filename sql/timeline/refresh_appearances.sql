-- The appearances of %(video_ids)s from their tracks, set-based (face_assets.recognition.timeline).
--
-- Who a track is: its faces' claims, the strongest kind first: a person's decision ('manual'), then an auto-tag
-- ('matched'), then a proposal awaiting review ('pending' at or above match_threshold), then an open cluster; among
-- claims of one kind the creator (or cluster) with most faces, then the best similarity. A creator a person rejected
-- for any face of the track is never the track's. So a confident face names its whole track, profile views
-- included, and a decision in the review that changes one face changes its track.
-- The tracks of one person whose intervals overlap or lie at most %(merge_gap)s seconds apart make one appearance.
WITH faces AS (
    SELECT tf.video_id, tf.track, d.id, d.matched_creator_id, d.match_status, d.match_confidence, d.cluster_id
    FROM video_face_track_faces tf
    JOIN video_face_detections d ON d.id = tf.detection_id
    WHERE tf.video_id = ANY(%(video_ids)s::int[])
),
rejected AS (
    SELECT DISTINCT f.video_id, f.track, r.creator_id
    FROM faces f
    JOIN face_match_rejections r ON r.detection_id = f.id
),
claims AS (
    SELECT f.video_id, f.track, f.matched_creator_id AS creator_id, NULL::int AS cluster_id,
           min(CASE f.match_status WHEN 'manual' THEN 0 WHEN 'matched' THEN 1 ELSE 2 END) AS rank,
           count(*) AS n, max(f.match_confidence) AS confidence,
           (array_agg(f.id ORDER BY f.match_confidence DESC NULLS LAST, f.id))[1] AS best
    FROM faces f
    WHERE f.matched_creator_id IS NOT NULL
      AND f.match_status IN ('manual', 'matched', 'pending')
      AND NOT EXISTS (
          SELECT 1 FROM rejected r
          WHERE r.video_id = f.video_id AND r.track = f.track AND r.creator_id = f.matched_creator_id)
    GROUP BY f.video_id, f.track, f.matched_creator_id
    UNION ALL
    SELECT f.video_id, f.track, NULL::int, f.cluster_id, 3, count(*), NULL::real, min(f.id)
    FROM faces f
    JOIN face_clusters c ON c.id = f.cluster_id AND c.status = 'open'
    GROUP BY f.video_id, f.track, f.cluster_id
),
who AS (
    SELECT DISTINCT ON (video_id, track) *
    FROM claims
    ORDER BY video_id, track, rank, n DESC, confidence DESC NULLS LAST, creator_id, cluster_id
),
spans AS (
    SELECT w.video_id, w.track, w.creator_id, w.cluster_id, w.rank, w.confidence, w.best,
           t.start_seconds, t.end_seconds, t.faces
    FROM who w
    JOIN video_face_tracks t ON t.video_id = w.video_id AND t.track = w.track
),
reaches AS (
    SELECT s.*,
           max(s.end_seconds) OVER (PARTITION BY s.video_id, s.creator_id, s.cluster_id
                                    ORDER BY s.start_seconds, s.end_seconds
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM spans s
),
islands AS (
    SELECT r.*,
           sum(CASE WHEN r.reach IS NULL OR r.start_seconds > r.reach + %(merge_gap)s THEN 1 ELSE 0 END)
               OVER (PARTITION BY r.video_id, r.creator_id, r.cluster_id ORDER BY r.start_seconds, r.end_seconds
                     ROWS UNBOUNDED PRECEDING) AS island
    FROM reaches r
)
INSERT INTO face_appearances (video_id, creator_id, cluster_id, status, start_seconds, end_seconds, faces, tracks,
                              track_numbers, confidence, best_detection_id)
SELECT video_id, creator_id, cluster_id, (ARRAY['confirmed', 'tagged', 'proposed', 'cluster'])[min(rank) + 1],
       min(start_seconds), max(end_seconds), sum(faces), count(*), array_agg(track ORDER BY track), max(confidence),
       (array_agg(best ORDER BY confidence DESC NULLS LAST, best))[1]
FROM islands
GROUP BY video_id, creator_id, cluster_id, island
ORDER BY video_id, min(start_seconds);
