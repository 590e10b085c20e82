"""Reconciliation of a migrated table against its SQLite source, computed from both databases independently."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

import psycopg
from psycopg import sql

from face_assets.migration.legacy_schema import LegacySchema


@dataclass
class Reconciliation:
    source_rows: int
    migrated_rows: int
    rejected_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def counts_match(self) -> bool:
        return self.source_rows == self.migrated_rows + self.rejected_rows

    @property
    def checksums_match(self) -> bool:
        return self.source_checksum == self.target_checksum


def _digest(keys) -> str:
    h = hashlib.sha256()
    for key in sorted(keys):
        h.update("\x1f".join(key).encode())
        h.update(b"\x1e")
    return h.hexdigest()


def reconcile(conn: psycopg.Connection, schema: LegacySchema, name: str) -> Reconciliation:
    """source rows = migrated + rejected, and a checksum of the key columns of the rows that were kept.

    Keys are compared as text: the source's kept keys (all keys minus those of rejected rows) must be exactly the
    target's keys among the source keys.
    """
    table = schema.tables[name]
    key_cols = list(table.primary_key) or table.column_names
    select = "SELECT {} FROM \"{}\"".format(", ".join(f'"{c}"' for c in key_cols), name)
    with sqlite3.connect(f"file:{schema.path}?mode=ro", uri=True) as source:
        source_keys = [tuple("" if v is None else str(v) for v in row) for row in source.execute(select)]
    rejected = {
        tuple("" if key.get(c) is None else str(key.get(c)) for c in key_cols)
        for (key,) in conn.execute(
            "SELECT coalesce(source_key, source_row) FROM migration_rejects"
            " WHERE table_name = %s AND disposition = 'row_rejected'",
            (name,),
        )
    }
    source_set = set(source_keys)
    target_keys = {
        tuple("" if v is None else v for v in row)
        for row in conn.execute(
            sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in key_cols),
                sql.Identifier(name),
            )
        )
    }
    migrated = target_keys & source_set
    return Reconciliation(
        source_rows=len(source_keys),
        migrated_rows=len(migrated),
        rejected_rows=len(rejected & source_set),
        source_checksum=_digest(source_set - rejected),
        target_checksum=_digest(migrated),
    )
