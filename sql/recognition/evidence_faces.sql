-- The faces behind the evidence of %(video_ids)s (face_assets.recognition.evidence), one row per face proposed for
-- or confirmed as a creator: video, creator, face, frame, similarity, anchor similarity, runner-up creator and
-- similarity, status, whether it is machine evidence (undecided, 'pending'/'matched', >= match_threshold), how
-- many faces its frame holds (counted before the filter: a crowded frame needs more evidence), and its track (NULL
-- for a face in none: the frames of one track are one look).
WITH faces AS (
    SELECT d.*, count(*) OVER (PARTITION BY video_id, frame_index) AS faces_in_frame
    FROM video_face_detections d
    WHERE video_id = ANY(%(video_ids)s::int[])
)
SELECT f.video_id, f.matched_creator_id, f.id, f.frame_index, f.match_confidence, f.anchor_confidence,
       f.runner_up_creator_id, f.runner_up_confidence, f.match_status,
       (f.decided_at IS NULL AND f.match_status IN ('pending', 'matched')
        AND f.match_confidence >= %(match_threshold)s) AS machine,
       f.faces_in_frame, t.track
FROM faces f
LEFT JOIN video_face_track_faces t ON t.detection_id = f.id
WHERE f.matched_creator_id IS NOT NULL
  AND ((f.decided_at IS NULL AND f.match_status IN ('pending', 'matched')) OR f.match_status = 'manual')
ORDER BY f.video_id, f.matched_creator_id, f.frame_index, f.id;
