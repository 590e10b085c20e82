-- Whether the tables the library scan works on exist yet (legacy migration + face_schema materialized).
SELECT to_regclass('watched_directories') IS NOT NULL
   AND to_regclass('videos') IS NOT NULL
   AND to_regclass('library_files') IS NOT NULL AS ready;
