-- A model adopted by name (from rows written before face_model existed) takes the fingerprint of the first pack of
-- that name used with it.
UPDATE face_model SET fingerprint = %(fingerprint)s
WHERE fingerprint IS NULL AND name = %(name)s;
