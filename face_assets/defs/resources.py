"""The application database, shared by every domain: PostgresResource."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from dagster import ConfigurableResource, Definitions, definitions
from pydantic import PrivateAttr

from face_assets.db import connection, embedded_postgres
from face_assets.db.sql_files import run_sql_file


class PostgresResource(ConfigurableResource):
    """Connections to the application database.

    `url` defaults to DATABASE_URL; when that is unset too, the embedded server is started on first use.
    Connections have pgvector's types registered once the `vector` extension exists.
    """

    url: str | None = None
    application_name: str = "face_assets"

    _resolved: str | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        if self._resolved is None:
            self._resolved = self.url or embedded_postgres.app_database_url()
        return self._resolved

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection; without autocommit the block is one transaction, committed on success."""
        with connection.connect(
            self.resolved_url(), autocommit=autocommit, application_name=self.application_name
        ) as conn:
            yield conn

    def run_sql_file(self, name: str, params=None) -> None:
        """Run sql/<name> in one transaction."""
        with self.connect() as conn:
            run_sql_file(conn, name, params)


@definitions
def resources() -> Definitions:
    # No URL in the config: DATABASE_URL is read when a step runs, so no password lands in Dagster's storage.
    return Definitions(resources={"database": PostgresResource()})
