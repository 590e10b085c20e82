-- Display names: creators %(creator_ids)s and videos %(video_ids)s (title, else file name).
SELECT 'creator' AS kind, c.id, c.name FROM creators c WHERE c.id = ANY(%(creator_ids)s::int[])
UNION ALL
SELECT 'video', v.id, COALESCE(NULLIF(v.title, ''), v.file_name) FROM videos v WHERE v.id = ANY(%(video_ids)s::int[]);
