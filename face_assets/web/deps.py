"""What every route needs: the app's settings, a database connection per request, the face engine, Dagster."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from fastapi import Request

CONNECT_TIMEOUT_S = 3  # a server that does not answer becomes a 503 quickly, not a hung page


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached (the app answers 503 and tries again on the next request)."""


class ModelUnavailable(Exception):
    """The face model cannot be used: it does not load, or the database's embeddings come from another model. The
    app answers 503 with the reason (one line), never a 500."""


MODEL_CHECK_EVERY_S = 10.0  # how often the app compares its model with the database's (a switch while it serves)


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
    _model_checked_at: float | None = None
    _model_problem: str | None = None

    def engine(self):
        """The face engine, built on first use (loading the model takes a moment) and shared by requests.

        ModelUnavailable when the model cannot be loaded, or when the database's embeddings come from another model
        (face_assets.recognition.model_record; the configured pack is then not even loaded, nor downloaded)."""
        if self.engine_factory is None:
            self.check_model()
        with self._engine_lock:
            if self._engine is None:
                try:
                    if self.engine_factory is not None:
                        self._engine = self.engine_factory()
                    else:
                        from face_assets import settings
                        from face_assets.engine.face_engine import FaceEngine

                        # The inference pool (face_assets.web.inference) is the parallelism: each call runs on its own
                        # pool thread with its share of the cores. A thread pool per call on top (the pipeline's
                        # frame_workers) would oversubscribe the cores and start threads per request, whose malloc
                        # arenas made the RSS creep under load (benchmarks/: service_load).
                        workers = settings.inference_workers()
                        self._engine = FaceEngine(
                            frame_workers=1, intra_op_threads=max(1, settings.cpu_cores() // workers)
                        )
                        self._engine.load()
                except Exception as exc:  # whatever the cause (missing pack, failed download, bad provider): a 503
                    self._engine = None
                    raise ModelUnavailable(f"the face model cannot be loaded: {exc}") from exc
        if self.engine_factory is not None:
            self.check_model()
        return self._engine

    def check_model(self) -> None:
        """ModelUnavailable when the database's embeddings come from another model than this app's. Asked of the
        database at most every MODEL_CHECK_EVERY_S; a database that does not answer is not asked (detection works
        without it)."""
        now = time.monotonic()
        if self._model_checked_at is None or now - self._model_checked_at >= MODEL_CHECK_EVERY_S:
            from face_assets.recognition.model_record import ModelIdentity, ModelMismatch, check_model

            model = ModelIdentity.of_engine(self._engine) if self._engine is not None else ModelIdentity.of()
            try:
                with connect(self) as conn:
                    check_model(conn, model)
                self._model_problem = None
            except ModelMismatch as exc:
                self._model_problem = str(exc)
            except (DatabaseUnavailable, psycopg.Error):
                pass
            self._model_checked_at = now
        if self._model_problem:
            raise ModelUnavailable(self._model_problem)


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
