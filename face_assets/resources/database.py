"""PostgresResource: the application database (PostgreSQL + pgvector) for every asset."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import psycopg
from dagster import ConfigurableResource
from pydantic import PrivateAttr

from face_assets import embedded_postgres
from face_assets.sql_files import run_sql_file


class PostgresResource(ConfigurableResource):
    """Connections to the application database.

    `url` defaults to DATABASE_URL; when that is unset too, the embedded server is started on first use.
    Connections have pgvector's types registered once the `vector` extension exists.
    """

    url: Optional[str] = None
    application_name: str = "face_assets"

    _resolved: Optional[str] = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        if self._resolved is None:
            self._resolved = self.url or embedded_postgres.app_database_url()
        return self._resolved

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection; without autocommit the block is one transaction, committed on success."""
        conn = psycopg.connect(
            self.resolved_url(), autocommit=autocommit, application_name=self.application_name
        )
        try:
            _register_vector(conn)
            yield conn
            if not autocommit:
                conn.commit()
        except BaseException:
            if not autocommit and not conn.closed:
                conn.rollback()
            raise
        finally:
            conn.close()

    def run_sql_file(self, name: str, params=None) -> None:
        """Run sql/<name> in one transaction."""
        with self.connect() as conn:
            run_sql_file(conn, name, params)


def _register_vector(conn: psycopg.Connection) -> None:
    from pgvector.psycopg import register_vector

    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        pass  # the extension is created by face_schema; until then there is no vector type to register
    if not conn.autocommit:
        conn.rollback()  # leave no transaction open from the type lookup
