-- A video's appearances before they are computed again (same transaction: readers see the old or the new rows).
DELETE FROM face_appearances WHERE video_id = ANY(%(video_ids)s::int[]);
