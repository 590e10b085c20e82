"""Dagster's storage in PostgreSQL as dagster-postgres keeps it, with connections kept open per process.

dagster-postgres opens a new connection for every statement outside the webserver (SQLAlchemy's NullPool), so that
an instance never hoards connections. A run writes an event per step, per output and per partition, and checks each
partition of its metadata against the instance (a run of 150 new videos: well over a thousand statements). Measured
in the daemon's run worker on 50 new files (py-spy, issue 21): opening connections took ~40% of its main thread,
creating that run's 200 planned events 2.6 s against 0.55-0.87 s on a kept connection; with a password
(scram-sha-256) each connection also derives a key on both sides. Here each storage keeps up to two connections
(`POOL`: a few more while threads overlap, closed when returned), pinged before use, so a restarted PostgreSQL
costs a reconnect, not an error; dagster-postgres's own retries still cover an outage. dagster.yaml names these
classes (run_storage, event_log_storage, schedule_storage); the webserver tunes its own pools as before
(`optimize_for_webserver`).

`dynamic_partitions_read_once`: Dagster checks each `add_asset_metadata(partition_key=)` against the instance, two
existence queries and a read of every key of the partition set per call; inside the block the event-log storage
reads each set once. Measured: a step adding metadata to 500 of 2,000 partitions spent 2.4 s in those checks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# Two kept: a statement Dagster runs while it holds one connection (the table check below, inside storing an
# event) would otherwise open and close an overflow connection every time.
POOL: dict[str, Any] = {"pool_size": 2, "max_overflow": 10, "pool_pre_ping": True, "pool_recycle": 3600}


class _KeepsConnections:
    """What the three storages add to dagster-postgres's: the engine swapped for one that keeps a connection."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        storage = cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
        unpooled = storage._engine
        storage._engine = create_pg_engine(
            storage.postgres_url, storage._token_provider, isolation_level="AUTOCOMMIT", **POOL
        )
        unpooled.dispose()
        return storage

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        kept = self._engine
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)  # its own pool
        kept.dispose()


class KeptRunStorage(_KeepsConnections, PostgresRunStorage):
    pass


# {partitions definition name: (keys in order, the same as a set)} while a `dynamic_partitions_read_once` block runs.
_READ_ONCE: ContextVar[dict[str, tuple[Sequence[str], frozenset[str]]] | None] = ContextVar(
    "dynamic_partitions_read_once", default=None
)


@contextmanager
def dynamic_partitions_read_once() -> Iterator[None]:
    """Within the block (this thread or task), each dynamic partition set is read from PostgreSQL once: for checks
    repeated per partition, where a partition added meanwhile by another process does not matter."""
    token = _READ_ONCE.set({})
    try:
        yield
    finally:
        _READ_ONCE.reset(token)


class KeptEventLogStorage(_KeepsConnections, PostgresEventLogStorage):
    def has_table(self, table_name: str) -> bool:
        """Whether a table of Dagster's schema exists, remembered once it does: Dagster asks on a second connection
        before storing the tags of every materialization (py-spy, a run of 500 new videos: 2,000 catalog queries,
        with the connections they opened ~6 s of the run worker). Tables are created by migrations, never dropped
        under a running process; a missing one is asked about again."""
        present = self.__dict__.setdefault("_tables_present", set())
        if table_name not in present and super().has_table(table_name):
            present.add(table_name)
        return table_name in present

    def _read_once(self, partitions_def_name: str) -> tuple[Sequence[str], frozenset[str]] | None:
        sets = _READ_ONCE.get()
        if sets is None:
            return None
        if partitions_def_name not in sets:
            keys = list(super().get_dynamic_partitions(partitions_def_name))
            sets[partitions_def_name] = (keys, frozenset(keys))
        return sets[partitions_def_name]

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        kept = self._read_once(partitions_def_name)
        return list(kept[0]) if kept else super().get_dynamic_partitions(partitions_def_name)

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        kept = self._read_once(partitions_def_name)
        return partition_key in kept[1] if kept else super().has_dynamic_partition(partitions_def_name, partition_key)


class KeptScheduleStorage(_KeepsConnections, PostgresScheduleStorage):
    pass
