"""Loading and running the SQL kept in the top-level `sql/` folder."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import psycopg
from psycopg import sql

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@lru_cache(maxsize=None)
def read_sql(name: str) -> str:
    """The text of sql/<name> (e.g. `face/schema.sql`)."""
    return (SQL_DIR / name).read_text()


def compose(name: str, **identifiers: str) -> sql.Composed:
    """sql/<name> with `{placeholders}` filled as quoted identifiers (table names, never values)."""
    return sql.SQL(read_sql(name)).format(**{k: sql.Identifier(v) for k, v in identifiers.items()})


def run_sql_file(conn: psycopg.Connection, name: str, params=None, **identifiers: str):
    """Execute sql/<name> on `conn` (a script of several statements is fine without params)."""
    query = compose(name, **identifiers) if identifiers else read_sql(name)
    return conn.execute(query, params)
