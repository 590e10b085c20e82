"""Migrates several legacy tables side by side: each on its own connection and transaction, a table as soon as the
tables it references have started (it waits for their commit only where it reads them), the table with the most
rows below it first.

Per table it is exactly what the one-table asset does (`migrate_table`, then `reconcile` in the same transaction,
committed even when a check fails: the check reports it). Side by side, one table's Python work (reading SQLite)
overlaps another's PostgreSQL work (COPY, index builds, checks).
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import psycopg

from face_assets.migration.checks import Reconciliation, reconcile
from face_assets.migration.legacy_schema import LegacySchema, read_only, sqlite_quote
from face_assets.migration.loader import TableResult, ensure_rejects_table, ensure_target_table, migrate_table
from face_assets.settings import PathMap

# Three tables at a time: on 2 cores one reads SQLite while the others' backends copy and index; more only queue.
DEFAULT_WORKERS = 3

Connect = Callable[[], AbstractContextManager[psycopg.Connection]]


@dataclass
class TableOutcome:
    table: str
    result: TableResult | None = None
    check: Reconciliation | None = None
    error: BaseException | None = None  # the table's exception, or why it was not started (a parent failed)


def _estimated_rows(schema: LegacySchema, names: Iterable[str]) -> dict[str, int]:
    """max(rowid) per table (one B-tree descent, no count): enough to start the big tables first."""
    sizes = {}
    with read_only(schema.path) as source:
        for name in names:
            try:
                sizes[name] = source.execute(f"SELECT max(rowid) FROM {sqlite_quote(name)}").fetchone()[0] or 0
            except sqlite3.OperationalError:  # WITHOUT ROWID
                sizes[name] = 0
    return sizes


def prepare_targets(conn: psycopg.Connection, schema: LegacySchema, names: list[str]) -> None:
    """Create every target table (and migration_rejects) first, in one transaction, in load order.

    CREATE TABLE ... REFERENCES locks the parent table until commit; done inside the parallel loads, two tables
    referencing the same parent would wait for each other's whole load.
    """
    with conn.transaction():
        ensure_rejects_table(conn)
        for name in schema.load_order:
            if name in names:
                ensure_target_table(conn, schema.tables[name])


class _Done:
    """Whether each table is committed (or failed), for the tables that reference it to wait on."""

    def __init__(self, names: list[str]):
        self._events = {n: threading.Event() for n in names}
        self.failed: set[str] = set()

    def finish(self, name: str, ok: bool) -> None:
        if not ok:
            self.failed.add(name)
        self._events[name].set()

    def wait(self, names: Iterable[str]) -> None:
        for name in names:
            self._events[name].wait()
        bad = sorted(set(names) & self.failed)
        if bad:
            raise RuntimeError(f"not migrated: a table it references failed ({', '.join(bad)})")


DEADLOCK_RETRIES = 3


def _migrate_one(
    connect: Connect, schema: LegacySchema, name: str, path_map: PathMap, check: bool, parents: list[str], done: _Done
) -> TableOutcome:
    ok = False
    try:
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                with connect() as conn:
                    with conn.transaction():
                        result = migrate_table(conn, schema, name, path_map, parents_ready=lambda: done.wait(parents))
                        checked = reconcile(conn, schema, name) if check else None
                break
            except psycopg.errors.DeadlockDetected:
                # Two tables side by side can still meet on a lock their DDL takes (constraints of a table added
                # by the legacy file, say); PostgreSQL aborts one of them, whole: load that table again.
                if attempt == DEADLOCK_RETRIES:
                    raise
                time.sleep(0.2 * (attempt + 1))
        ok = True
        return TableOutcome(name, result, checked)
    finally:
        done.finish(name, ok)


def migrate_tables(
    connect: Connect,
    schema: LegacySchema,
    names: Iterable[str],
    path_map: PathMap,
    workers: int = DEFAULT_WORKERS,
    check: bool = True,
) -> Iterator[TableOutcome]:
    """Migrate `names` (tables of `schema`), yielding each table's outcome as it finishes.

    `connect()` gives a connection as a context manager that commits on success (`psycopg.connect(url)`, or
    `PostgresResource.connect`). A table starts once the tables it references (among `names`) have started, and
    waits for their commit only before the first step that reads them (after its COPY); starting in that order,
    a waiting table never holds the worker its parent needs. A table whose parent failed fails with that reason.
    Exceptions are reported in the outcomes, never raised, so the caller sees every table.
    """
    wanted = set(names)
    names = [n for n in schema.load_order if n in wanted]
    with connect() as conn:
        prepare_targets(conn, schema, names)
    parents = {n: [p for p in schema.dependencies(n) if p in wanted] for n in names}
    size = _estimated_rows(schema, names)
    # A table's priority is its rows and those of every table that waits for it: watched_directories (1 row) comes
    # before a 1,000-row table with no children, since videos and everything under it wait for it.
    children = {n: [c for c in names if n in parents[c]] for n in names}

    def below(n: str, seen: set[str]) -> set[str]:
        for c in children[n]:
            if c not in seen:
                seen.add(c)
                below(c, seen)
        return seen

    weight = {n: size[n] + sum(size[d] for d in below(n, set())) for n in names}
    done = _Done(names)
    outcomes: queue.Queue = queue.Queue()
    stop = threading.Event()

    def schedule() -> None:
        # In a thread of its own: tables keep starting while the caller handles an outcome (Dagster writing its
        # events, say), instead of only when the caller asks for the next one.
        started: set[str] = set()
        running: dict[cf.Future, str] = {}
        try:
            with cf.ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="migrate") as pool:
                while (len(started) < len(names) and not stop.is_set()) or running:
                    ready = (
                        []
                        if stop.is_set()
                        else sorted(
                            (n for n in names if n not in started and set(parents[n]) <= started),
                            key=lambda n: (-weight[n], n),
                        )
                    )
                    for name in ready[: max(0, workers - len(running))]:
                        started.add(name)
                        future = pool.submit(_migrate_one, connect, schema, name, path_map, check, parents[name], done)
                        running[future] = name
                    finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    for future in finished:
                        name = running.pop(future)
                        try:
                            outcomes.put(future.result())
                        except Exception as exc:  # reported, not raised: the other tables go on
                            outcomes.put(TableOutcome(name, error=exc))
        finally:
            outcomes.put(None)

    scheduler = threading.Thread(target=schedule, name="migrate-scheduler", daemon=True)
    scheduler.start()
    try:
        while (outcome := outcomes.get()) is not None:
            yield outcome
    finally:  # the caller stopped early: start nothing more, let the running tables finish
        stop.set()
        scheduler.join()
