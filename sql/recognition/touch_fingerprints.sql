-- Pictures whose file was touched but whose content is the same: new fingerprint, same embedding, no model run.
UPDATE creator_face_embeddings e
SET source_fingerprint = u.fingerprint
FROM unnest(%(ids)s::int[], %(fingerprints)s::text[]) AS u(id, fingerprint)
WHERE e.id = u.id;
