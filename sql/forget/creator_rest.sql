-- What else speaks of creator %(creator_id)s, once their faces are gone: the tags face recognition or a person's
-- review gave them (a legacy tag, made in the video app, stays), the problems found with their pictures, cluster
-- proposals naming them, faces a person rejected for them (not theirs: undecided again, and matched again at once),
-- faces where they were the runner-up; then the tombstone. Returns the tags removed (video, source), the faces
-- reopened and their videos, the faces that lost them as runner-up, whether the tombstone is new, and the legacy
-- tags kept.
WITH tags AS (
    DELETE FROM video_creators
    WHERE creator_id = %(creator_id)s AND source <> 'legacy'
    RETURNING video_id, source
),
issues AS (
    DELETE FROM creator_embedding_issues WHERE creator_id = %(creator_id)s RETURNING 1
),
proposals AS (
    DELETE FROM cluster_proposals WHERE kind = 'creator' AND creator_id = %(creator_id)s RETURNING 1
),
reopened AS (
    UPDATE video_face_detections
    SET match_status = 'pending', matched_creator_id = NULL, match_confidence = NULL, decided_at = NULL,
        runner_up_creator_id = NULL, runner_up_confidence = NULL, anchor_confidence = NULL
    WHERE matched_creator_id = %(creator_id)s
    RETURNING id, video_id
),
runner_up AS (
    UPDATE video_face_detections
    SET runner_up_creator_id = NULL, runner_up_confidence = NULL
    WHERE runner_up_creator_id = %(creator_id)s AND matched_creator_id IS DISTINCT FROM %(creator_id)s
    RETURNING id
),
tombstone AS (
    INSERT INTO forgotten_creators (creator_id) VALUES (%(creator_id)s)
    ON CONFLICT (creator_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT coalesce(array_agg(ARRAY[video_id::text, source] ORDER BY video_id), '{}') FROM tags),
       (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM reopened),
       (SELECT coalesce(array_agg(DISTINCT video_id), '{}') FROM reopened),
       (SELECT count(*) FROM runner_up),
       EXISTS (SELECT 1 FROM tombstone),
       (SELECT count(*) FROM video_creators WHERE creator_id = %(creator_id)s AND source = 'legacy');
