"""Dagster wiring of the face tables, creator embeddings, detections, matches, clusters, their checks, the pictures
sensor, the rematch schedule and FaceEngineResource, and the change of model (reembed.py: `reembedded_faces`,
`model_switch_job`); the logic is in face_assets.recognition and face_assets.engine."""
