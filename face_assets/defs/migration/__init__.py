"""Dagster wiring of the legacy migration: the legacy tables as one subsettable multi-asset, their blocking checks and
LegacyDatabase; the logic is in face_assets.migration."""
