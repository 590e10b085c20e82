-- N: creators with at least one reference embedding (each is a candidate for every face).
SELECT count(DISTINCT creator_id) FROM creator_face_embeddings;
