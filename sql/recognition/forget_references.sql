-- A person removes learned references %(ids)s: each becomes a veto (that face is never learned for that creator
-- again, also after re-detection: kept by place), then the reference is deleted. Other references are ignored.
WITH gone AS (
    DELETE FROM creator_face_embeddings e
    WHERE e.id = ANY(%(ids)s::int[]) AND e.learned_from IS NOT NULL
    RETURNING e.id, e.creator_id, e.learned_from
),
vetoed AS (
    INSERT INTO learned_reference_vetoes (detection_id, video_id, frame_index, bbox_x, bbox_y, bbox_width,
                                          bbox_height, creator_id)
    SELECT d.id, d.video_id, d.frame_index, d.bbox_x, d.bbox_y, d.bbox_width, d.bbox_height, g.creator_id
    FROM gone g JOIN video_face_detections d ON d.id = g.learned_from
    ON CONFLICT (detection_id, creator_id) DO NOTHING
)
SELECT id, creator_id FROM gone ORDER BY id;
