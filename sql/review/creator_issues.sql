-- Why pictures of creator %(id)s gave no embedding.
SELECT source_path, reason FROM creator_embedding_issues WHERE creator_id = %(id)s ORDER BY source_path;
