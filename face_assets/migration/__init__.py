"""Moving the legacy app's SQLite database into PostgreSQL: schema reading, DDL translation, loading, checks.

May import face_assets.db and face_assets.settings only.
"""
