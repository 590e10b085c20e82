"""The Dagster layer, one package per domain, each with its assets, partitions, resources, schedules and sensors side
by side. `face_assets.definitions` loads everything in here with `load_defs`; the plain code these call lives
outside (face_assets.migration, .library, .video, .recognition, review.py), so the CLI and the web app share it.

  migration/  the legacy SQLite tables, one asset each, and their blocking checks
  library/    the `videos` partitions, the library sensor, `sampled_frames` and the `process_videos` job
  faces/      face tables, creator embeddings, detections, matches, clusters, the pictures sensor, the rematch
  review/     what waits for a person, in numbers (`face_recognition_stats`)
"""
