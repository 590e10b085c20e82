-- Serialises writers of creator_face_embeddings / matching state (transaction-scoped advisory lock).
SELECT pg_advisory_xact_lock(hashtext(%(name)s));
