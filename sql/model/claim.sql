-- The first embedding of a database records its model; a concurrent first writer waits here and records nothing.
INSERT INTO face_model (name, fingerprint, source)
VALUES (%(name)s, %(fingerprint)s, %(source)s)
ON CONFLICT (id) DO NOTHING;
