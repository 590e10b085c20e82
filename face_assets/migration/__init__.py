"""Moving the legacy app's SQLite database into PostgreSQL: schema reading, DDL translation, loading."""
