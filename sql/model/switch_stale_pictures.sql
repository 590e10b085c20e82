-- Picture embeddings the new model gave no embedding for (the file is gone, or it finds no face there): their
-- embedding by the old model goes (the picture's problem is in creator_embedding_issues).
DELETE FROM creator_face_embeddings e
WHERE e.source_type IN ('profile_picture', 'manual')
  AND NOT EXISTS (
      SELECT 1 FROM new_creator_embeddings n
      WHERE n.creator_id = e.creator_id AND n.source_type = e.source_type AND n.source_path = e.source_path
  )
RETURNING e.creator_id, e.source_path;
