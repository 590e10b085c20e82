"""What every route needs: the app's settings, a database connection per request, the face engine, Dagster."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from fastapi import Request

CONNECT_TIMEOUT_S = 3  # a server that does not answer becomes a 503 quickly, not a hung page


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached (the app answers 503 and tries again on the next request)."""


@dataclass
class WebState:
    database_url: str
    host: str = "127.0.0.1"
    token: str | None = None
    dagster_ui: str | None = None
    instance_factory: Callable[[], Any] | None = None  # a DagsterInstance (context manager or not)
    engine_factory: Callable[[], Any] | None = None
    _engine: Any = None
    _engine_lock: threading.Lock = field(default_factory=threading.Lock)

    def engine(self):
        """The face engine, built on first use (loading the model takes a moment) and shared by requests."""
        with self._engine_lock:
            if self._engine is None:
                if self.engine_factory is not None:
                    self._engine = self.engine_factory()
                else:
                    from face_assets.engine.face_engine import FaceEngine

                    self._engine = FaceEngine()
                    self._engine.load()
            return self._engine


def state(request: Request) -> WebState:
    return request.app.state.web


@contextmanager
def connect(web: WebState, vectors: bool = False) -> Iterator[psycopg.Connection]:
    """A connection for one request; the block is one transaction, committed when it ends without an error.

    A connection per request (no pool): after PostgreSQL restarts, the next request simply connects again.
    `vectors`: pgvector's types registered (numpy embeddings as parameters, COPY of vectors); it costs a catalog
    query, so only the routes that pass embeddings ask for it."""
    try:
        conn = psycopg.connect(web.database_url, connect_timeout=CONNECT_TIMEOUT_S, application_name="face_assets_web")
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable() from exc
    try:
        if vectors:
            try:
                from pgvector.psycopg import register_vector

                register_vector(conn)
            except psycopg.ProgrammingError:
                conn.rollback()  # no vector extension yet: the face tables are not there either
        yield conn
        conn.commit()
    except BaseException:
        if not conn.closed:
            try:
                conn.rollback()
            except psycopg.Error:
                pass
        raise
    finally:
        conn.close()


@contextmanager
def db(request: Request, vectors: bool = False) -> Iterator[psycopg.Connection]:
    with connect(state(request), vectors) as conn:
        yield conn
