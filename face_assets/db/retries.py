"""How database steps retry: a PostgreSQL restart or a dropped connection should cost a retry, not a failed run.

Every step that writes the application database uses `DATABASE_RETRY`. A RetryPolicy alone retries every
exception, so a step body also runs under `transient_only()`: an error that can pass on a retry (a lost
connection, a serialization failure or deadlock, a server starting or shutting down) is re-raised for the policy
to retry; anything else (a configuration mistake, bad data, a bug) becomes `dagster.Failure(allow_retries=False)`,
which fails the step at once instead of four more times with the same stack trace.

The rest of what touches the database rides out an outage the same way (issue 17): asset checks have
`DATABASE_RETRY` too, under `report_if_database_unavailable()`, whose last attempt reports "could not run" instead
of failing the run; sensor and schedule ticks, which have no retry policy, retry within the tick
(`skip_while_database_unavailable()`) and then skip, saying the database is unavailable, with their cursor kept.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    Backoff,
    Failure,
    Jitter,
    RetryPolicy,
    RetryRequested,
    SkipReason,
)

T = TypeVar("T")

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
        return _signed_like(body, fn)


# --- checks, sensors and schedules ------------------------------------------------------------------------------

# How long a sensor or schedule tick keeps trying a database that does not answer before it skips (Dagster gives a
# tick 60 s; the next tick, seconds or minutes later, tries again).
TICK_RETRY_SECONDS = 10.0
UNAVAILABLE = "database unavailable"


def retry_transient(fn: Callable[[], T], seconds: float, first_delay: float = 0.5, max_delay: float = 4.0) -> T:
    """`fn()`, tried again on transient errors (0.5 s, 1 s, 2 s, ... apart) while `seconds` allow another try.

    Other errors, and the last transient one, are raised. For code that has no RetryPolicy of its own (sensor and
    schedule ticks); steps have `DATABASE_RETRY`."""
    deadline = time.monotonic() + seconds
    delay = first_delay
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, max_delay)


def _signed_like(body: Callable[..., Any], fn: Callable[..., Any]) -> Callable[..., Any]:
    """`body` with `fn`'s signature, its annotations resolved in `fn`'s module."""
    try:
        body.__signature__ = inspect.signature(fn, eval_str=True)
    except NameError:
        pass  # a name only known under TYPE_CHECKING: leave it to Dagster, as without the wrapper
    return body


def skip_while_database_unavailable(seconds: float | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A sensor or schedule evaluation that rides out a database outage: under `@sensor`/`@schedule`,

        @sensor(...)
        @skip_while_database_unavailable()
        def my_sensor(context, database): ...

    A transient error retries the whole evaluation for up to `seconds` (TICK_RETRY_SECONDS); if the database still
    does not answer, the tick is skipped with a reason that says so (the UI's tick history shows it) instead of
    failing: the cursor stays as it was (a skipped tick does not change it), and the next tick tries again. Other
    errors are raised as before."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def tick(*args, **kwargs):
            budget = TICK_RETRY_SECONDS if seconds is None else seconds
            try:
                return retry_transient(lambda: fn(*args, **kwargs), seconds=budget)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                reason = (
                    f"{UNAVAILABLE}: {_describe(exc)} (tried for {budget:.0f} s; the next tick tries again, "
                    "nothing was lost)"
                )
                context = args[0] if args else kwargs.get("context")
                log = getattr(context, "log", None)
                if log is not None:
                    log.warning(reason)
                return SkipReason(reason)

        return _signed_like(tick, fn)

    return decorate


def report_if_database_unavailable(
    policy: RetryPolicy = DATABASE_RETRY, severity: AssetCheckSeverity = AssetCheckSeverity.WARN
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An asset check that a database outage cannot fail: under `@asset_check(retry_policy=policy, ...)`,

        @asset_check(asset=..., retry_policy=DATABASE_RETRY, blocking=False)
        @report_if_database_unavailable()
        def my_check(context, database): ...

    Like `transient_only()`, a transient error is re-raised for the policy to retry and any other error fails the
    check at once. On the policy's last attempt a transient error no longer fails the step (and with it the run):
    the check reports that it could not run, as a failed evaluation of `severity` whose metadata says why."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def check(*args, **kwargs):
            from dagster import AssetCheckExecutionContext

            try:
                with transient_only():
                    return fn(*args, **kwargs)
            except (Failure, RetryRequested):
                raise
            except Exception as exc:  # transient: transient_only turned everything else into a Failure
                context = AssetCheckExecutionContext.get()
                attempts = context.retry_number + 1
                if context.retry_number < policy.max_retries:
                    raise
                description = f"could not run: {UNAVAILABLE} through {attempts} attempt(s) ({_describe(exc)})"
                context.log.warning(description)
                return AssetCheckResult(
                    passed=False,
                    severity=severity,
                    description=description,
                    metadata={"could_not_run": UNAVAILABLE, "attempts": attempts, "error": _describe(exc)},
                )

        return _signed_like(check, fn)

    return decorate
