-- The faces behind the evidence of %(video_ids)s (face_assets.recognition.evidence), one row per face proposed for
-- or confirmed as a creator: video, creator, face, frame, similarity, anchor similarity, runner-up creator and
-- similarity, status, whether it is machine evidence (undecided, 'pending'/'matched', >= match_threshold), and how
-- many faces its frame holds (counted before the filter: a crowded frame needs more evidence).
WITH faces AS (
    SELECT d.*, count(*) OVER (PARTITION BY video_id, frame_index) AS faces_in_frame
    FROM video_face_detections d
    WHERE video_id = ANY(%(video_ids)s::int[])
)
SELECT video_id, matched_creator_id, id, frame_index, match_confidence, anchor_confidence,
       runner_up_creator_id, runner_up_confidence, match_status,
       (decided_at IS NULL AND match_status IN ('pending', 'matched')
        AND match_confidence >= %(match_threshold)s) AS machine,
       faces_in_frame
FROM faces
WHERE matched_creator_id IS NOT NULL
  AND ((decided_at IS NULL AND match_status IN ('pending', 'matched')) OR match_status = 'manual')
ORDER BY video_id, matched_creator_id, frame_index, id;
