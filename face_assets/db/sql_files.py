"""Loading and running the SQL kept in the top-level `sql/` folder."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import psycopg
from psycopg import sql

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


@cache
def read_sql(name: str) -> str:
    """The text of sql/<name> (e.g. `face/schema.sql`)."""
    return (SQL_DIR / name).read_text()


def compose(name: str, **identifiers: str) -> sql.Composed:
    """sql/<name> with `{placeholders}` filled as quoted identifiers (table names, never values)."""
    return sql.SQL(read_sql(name)).format(**{k: sql.Identifier(v) for k, v in identifiers.items()})


@cache
def with_fragments(name: str, **fragments: str) -> sql.Composed:
    """sql/<name> with `{placeholders}` filled by the text of other SQL files, e.g. a select list several queries
    share (`{face_rows}` -> sql/review/face_rows.sql) or a whole query used as a CTE (its final `;` left out); the
    `%(param)s` placeholders are left to the execute."""
    return sql.SQL(read_sql(name)).format(**{k: sql.SQL(read_sql(v).strip().rstrip(";")) for k, v in fragments.items()})


def run_sql_file(conn: psycopg.Connection, name: str, params=None, **identifiers: str):
    """Execute sql/<name> on `conn` (a script of several statements is fine without params)."""
    query = compose(name, **identifiers) if identifiers else read_sql(name)
    return conn.execute(query, params)
