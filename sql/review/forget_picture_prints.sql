-- Creator %(id)s's pictures are to be embedded again (train): forget their fingerprints and recorded problems, so the
-- next sync runs every one of them through the model.
WITH cleared AS (
    UPDATE creator_face_embeddings SET source_fingerprint = NULL
    WHERE creator_id = %(id)s AND source_type IN ('profile_picture', 'manual')
    RETURNING id
)
DELETE FROM creator_embedding_issues WHERE creator_id = %(id)s;
