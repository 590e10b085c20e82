"""How database steps retry: a PostgreSQL restart or a dropped connection should cost a retry, not a failed run.

Every step that writes the application database uses `DATABASE_RETRY`. A RetryPolicy alone retries every
exception, so a step body also runs under `transient_only()`: an error that can pass on a retry (a lost
connection, a serialization failure or deadlock, a server starting or shutting down) is re-raised for the policy
to retry; anything else (a configuration mistake, bad data, a bug) becomes `dagster.Failure(allow_retries=False)`,
which fails the step at once instead of four more times with the same stack trace.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
from collections.abc import Callable
from typing import Any

from dagster import Backoff, Failure, Jitter, RetryPolicy, RetryRequested

DATABASE_RETRY = RetryPolicy(max_retries=4, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

# SQLSTATEs a server sends for conditions that end by themselves. Class 08: connection exceptions; 40001
# serialization_failure and 40P01 deadlock_detected: the transaction lost a race and may be run again; 57P01-57P03:
# the server is shutting down, crashed or is starting; 53300 too_many_connections, 55P03 lock_not_available.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "53300", "55P03"})
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08"})


def _sqlstate(exc: BaseException) -> str | None:
    # psycopg 3 has .sqlstate; psycopg2 (Dagster's storage) has .pgcode.
    return getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)


def _is_transient_one(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "busy" in str(exc)  # another writer; "no such table" is not transient
    state = _sqlstate(exc)
    if state:
        return state in TRANSIENT_SQLSTATES or state[:2] in TRANSIENT_SQLSTATE_CLASSES
    # Without a SQLSTATE, a psycopg OperationalError is the client losing (or never getting) its connection:
    # "server closed the connection unexpectedly", "connection refused" while the server restarts.
    module = type(exc).__module__ or ""
    return type(exc).__name__ == "OperationalError" and module.split(".")[0] in ("psycopg", "psycopg2")


def is_transient(exc: BaseException) -> bool:
    """Whether running the same step again can succeed. Follows explicit wrapping (`raise X from lost_connection`)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if _is_transient_one(exc):
            return True
        exc = exc.__cause__
    return False


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class transient_only:
    """Let only transient errors reach the step's RetryPolicy; fail the step at once on any other error.

    As a context manager around a step body, or as a decorator under `@asset`/`@op` (generator bodies too):

        @asset(retry_policy=DATABASE_RETRY, ...)
        @transient_only()
        def my_asset(context, database): ...
    """

    def __enter__(self) -> transient_only:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False  # KeyboardInterrupt, Dagster's interruption: never touched
        if isinstance(exc, (Failure, RetryRequested)) or is_transient(exc):
            return False  # the step already decided, or the policy should retry it
        raise Failure(
            description=f"{_describe(exc)} (not retried: a configuration or data error does not pass on a retry)",
            allow_retries=False,
        ) from exc

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def body(*args, **kwargs):
                with transient_only():
                    yield from fn(*args, **kwargs)
        else:

            @functools.wraps(fn)
            def body(*args, **kwargs):
                with transient_only():
                    return fn(*args, **kwargs)

        # Dagster reads the parameters (context, resources, inputs) and their types from the signature. Resolved
        # here, in `fn`'s module: string annotations (`from __future__ import annotations`) would otherwise be
        # looked up in this module, or compared as strings.
        try:
            body.__signature__ = inspect.signature(fn, eval_str=True)
        except NameError:
            pass  # a name only known under TYPE_CHECKING: leave it to Dagster, as without the wrapper
        return body
