-- Per (video, creator): the best match confidence any face of the video reached, and how many faces matched.
SELECT video_id, matched_creator_id, max(match_confidence), count(*)
FROM video_face_detections
WHERE video_id = ANY(%s) AND matched_creator_id IS NOT NULL
GROUP BY video_id, matched_creator_id
