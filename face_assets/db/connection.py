"""Connections to the application database (PostgreSQL + pgvector), with pgvector's types registered."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def connect(
    url: str, *, autocommit: bool = False, application_name: str = "face_assets"
) -> Iterator[psycopg.Connection]:
    """A connection; without autocommit the block is one transaction, committed on success."""
    conn = psycopg.connect(url, autocommit=autocommit, application_name=application_name)
    try:
        register_vector(conn)
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException:
        if not autocommit and not conn.closed:
            conn.rollback()
        raise
    finally:
        conn.close()


def register_vector(conn: psycopg.Connection) -> None:
    """pgvector's types on `conn`, once the `vector` extension exists."""
    from pgvector.psycopg import register_vector as register

    try:
        register(conn)
    except psycopg.ProgrammingError:
        pass  # the extension is created by face_schema; until then there is no vector type to register
    if not conn.autocommit:
        conn.rollback()  # leave no transaction open from the type lookup
