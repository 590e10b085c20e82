"""Reconciliation of a migrated table against its SQLite source, computed from both databases independently."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg
from psycopg import sql

from face_assets.migration.legacy_schema import LegacySchema, read_only, sqlite_quote


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
    """sha256 of the keys (each its columns' text joined by \\x1f) in sorted order, each followed by \\x1e."""
    ordered = sorted(keys)
    return hashlib.sha256(("\x1e".join(ordered) + ("\x1e" if ordered else "")).encode()).hexdigest()


def _key_text(values) -> str:
    return "\x1f".join("" if v is None else str(v) for v in values)


def _source_keys(schema: LegacySchema, name: str, key_cols: list[str]) -> list[str]:
    """Each source row's key as text, as Python's str() writes each value ('' for NULL).

    SQLite writes them itself (one string per row, no Python per value) for the usual key types, integer and text,
    which it writes exactly as str() does; a row with another type (REAL, BLOB) comes back NULL and the table's keys
    are then written by Python.
    """
    quoted = [sqlite_quote(c) for c in key_cols]
    table = sqlite_quote(name)
    text = " || char(31) || ".join(
        f"CASE typeof({c}) WHEN 'integer' THEN CAST({c} AS TEXT) WHEN 'text' THEN {c} WHEN 'null' THEN '' END"
        for c in quoted
    )
    with read_only(schema.path) as source:
        keys = [k for (k,) in source.execute(f"SELECT {text} FROM {table}")]
        if None in keys:
            keys = [_key_text(row) for row in source.execute(f"SELECT {', '.join(quoted)} FROM {table}")]
    return keys


def reconcile(conn: psycopg.Connection, schema: LegacySchema, name: str) -> Reconciliation:
    """source rows = migrated + rejected, and a checksum of the key columns of the rows that were kept.

    Keys are compared as text: the source's kept keys (all keys minus those of rejected rows) must be exactly the
    target's keys among the source keys. Both sides are read whole, one string per row; the two checksums are of
    the same sorted key list when the two key sets are equal, so it is then computed once.
    """
    table = schema.tables[name]
    key_cols = list(table.primary_key) or table.column_names
    source_keys = _source_keys(schema, name, key_cols)
    rejected = {
        _key_text(key.get(c) for c in key_cols)
        for (key,) in conn.execute(
            "SELECT coalesce(source_key, source_row) FROM migration_rejects"
            " WHERE table_name = %s AND disposition = 'row_rejected'",
            (name,),
        )
    }
    source_set = set(source_keys)
    target_text = sql.SQL(" || chr(31) || ").join(
        sql.SQL("coalesce({}::text, '')").format(sql.Identifier(c)) for c in key_cols
    )
    target_keys = {k for (k,) in conn.execute(sql.SQL("SELECT {} FROM {}").format(target_text, sql.Identifier(name)))}
    migrated = target_keys & source_set
    kept = source_set - rejected
    source_checksum = _digest(kept)
    return Reconciliation(
        source_rows=len(source_keys),
        migrated_rows=len(migrated),
        rejected_rows=len(rejected & source_set),
        source_checksum=source_checksum,
        target_checksum=source_checksum if kept == migrated else _digest(migrated),
    )
