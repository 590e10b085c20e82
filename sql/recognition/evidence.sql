-- Evidence per (video, creator) over all frames: the undecided faces whose nearest allowed creator it is, at or
-- above match_threshold. strong_* count only faces at or above auto_tag_threshold. manual_faces: faces a person
-- confirmed as that creator (they keep an existing face_recognition tag; they are not machine evidence).
SELECT video_id, creator_id,
       count(DISTINCT frame_index) FILTER (WHERE machine) AS frames,
       count(*) FILTER (WHERE machine) AS faces,
       count(DISTINCT frame_index) FILTER (WHERE machine AND match_confidence >= %(auto_tag_threshold)s) AS strong_frames,
       max(match_confidence) FILTER (WHERE machine) AS best,
       avg(match_confidence) FILTER (WHERE machine) AS mean,
       count(*) FILTER (WHERE match_status = 'manual') AS manual_faces
FROM (
    SELECT video_id, matched_creator_id AS creator_id, frame_index, match_confidence, match_status,
           (decided_at IS NULL AND match_status IN ('pending', 'matched')
            AND match_confidence >= %(match_threshold)s) AS machine
    FROM video_face_detections
    WHERE video_id = ANY(%(video_ids)s::int[]) AND matched_creator_id IS NOT NULL
      AND ((decided_at IS NULL AND match_status IN ('pending', 'matched')) OR match_status = 'manual')
) f
GROUP BY video_id, creator_id
ORDER BY video_id, creator_id;
