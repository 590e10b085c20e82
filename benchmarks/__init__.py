"""Benchmarks of face_assets: each stage runs our way and a baseline in one process (see harness.py, README.md)."""
