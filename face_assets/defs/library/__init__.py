"""Dagster wiring of the video library: the `videos` partitions, the library sensor, `sampled_frames` and the
`process_videos` job; the logic is in face_assets.library and face_assets.video."""
