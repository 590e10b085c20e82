"""Dagster wiring of the review side: `face_recognition_stats`; the logic is in face_assets.review."""
