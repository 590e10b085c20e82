"""The Dagster layer, one package per domain, each with its assets, partitions, resources, schedules and sensors side
by side. `face_assets.definitions` loads everything in here with `load_from_defs_folder`; the plain code these call
lives outside (face_assets.migration, .library, .video, .engine, .recognition, .review), so the CLI and the web app
share it.

  resources.py  PostgresResource, the application database every domain uses
  automation.py the declarative automation condition of the assets that refresh by themselves
  migration/    the legacy SQLite tables as one subsettable multi-asset, their blocking checks, LegacyDatabase
  library/      the `videos` partitions, the library sensor, `sampled_frames` and the `process_videos` job
  faces/        face tables, creator embeddings, detections, matches, clusters, checks, the pictures sensor, the
                rematch schedule, FaceEngineResource
  review/       what waits for a person, in numbers (`face_recognition_stats`)
  database/     the nightly backup of the application database (`database_backup`)

May import face_assets.review, the domain packages, face_assets.db and face_assets.settings; never face_assets.cli or
face_assets.web.
"""
