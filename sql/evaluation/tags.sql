-- Creator tags of the given videos, with their provenance.
SELECT video_id, creator_id, source, confidence FROM video_creators WHERE video_id = ANY(%s)
