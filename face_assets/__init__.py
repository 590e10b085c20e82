"""face_assets: face recognition for a self-hosted video library, as Dagster assets."""
