"""Reads the legacy SQLite schema (tables, columns, keys, constraints, indexes) through SQLAlchemy reflection.

The migration assets are built from this, not from a hand-typed table list, so an extra table or column in a
legacy database migrates too.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import sqlalchemy as sa


@contextlib.contextmanager
def read_only(path: Path | str) -> Iterator[sqlite3.Connection]:
    """The legacy file, read-only, closed afterwards (sqlite3's own context manager only ends a transaction)."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield source
    finally:
        source.close()


def sqlite_quote(name: str) -> str:
    """`name` as an SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Column:
    name: str
    declared_type: str  # as written in the SQLite DDL, e.g. "INTEGER", "DATETIME", "" (no type)
    nullable: bool
    default: str | None


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    on_delete: str | None


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    autoincrement: bool
    foreign_keys: tuple[ForeignKey, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    checks: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def parents(self) -> list[str]:
        """Tables this one references (itself excluded), in first-seen order."""
        return list(dict.fromkeys(fk.parent for fk in self.foreign_keys if fk.parent != self.name))


@dataclass
class LegacySchema:
    path: Path
    tables: dict[str, Table] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path | str) -> LegacySchema:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"legacy database not found: {path} (set FACE_ASSETS_LEGACY_DB)")
        engine = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
        try:
            inspector = sa.inspect(engine)
            with engine.connect() as conn:
                ddl = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all())
            schema = cls(path)
            for name in inspector.get_table_names():
                if name.startswith("sqlite_"):
                    continue
                schema.tables[name] = _reflect(inspector, name, ddl.get(name) or "")
            return schema
        finally:
            engine.dispose()

    @cached_property
    def load_order(self) -> list[str]:
        """Tables ordered so that every table comes after the tables it references (ties by name).

        A foreign-key cycle between tables (none in the known schema) is broken at the edge that closes it.
        """
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(name: str) -> None:
            if state.get(name) == "done" or state.get(name) == "visiting":
                return
            state[name] = "visiting"
            for parent in sorted(self.tables[name].parents):
                if parent in self.tables:
                    visit(parent)
            state[name] = "done"
            order.append(name)

        for name in sorted(self.tables):
            visit(name)
        return order

    def dependencies(self, name: str) -> list[str]:
        """Parents of `name` that come before it in the load order (so the asset graph is acyclic)."""
        position = {t: i for i, t in enumerate(self.load_order)}
        return [p for p in self.tables[name].parents if p in position and position[p] < position[name]]

    def sequence_values(self) -> dict[str, int]:
        """sqlite_sequence: the last id AUTOINCREMENT handed out per table (may exceed max(id) after deletes)."""
        with read_only(self.path) as conn:
            try:
                return {name: int(seq) for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence")}
            except sqlite3.OperationalError:
                return {}


def _reflect(inspector, name: str, create_sql: str) -> Table:
    columns = tuple(
        Column(
            name=c["name"],
            declared_type=_declared_type(create_sql, c["name"], c["type"]),
            nullable=bool(c["nullable"]),
            default=c.get("default"),
        )
        for c in inspector.get_columns(name)
    )
    pk = tuple(inspector.get_pk_constraint(name)["constrained_columns"] or ())
    fks = tuple(
        ForeignKey(
            columns=tuple(fk["constrained_columns"]),
            parent=fk["referred_table"],
            parent_columns=tuple(fk["referred_columns"]),
            on_delete=(fk.get("options") or {}).get("ondelete"),
        )
        for fk in inspector.get_foreign_keys(name)
    )
    uniques = tuple(tuple(u["column_names"]) for u in inspector.get_unique_constraints(name))
    checks = tuple(c["sqltext"] for c in inspector.get_check_constraints(name))
    indexes = tuple(
        Index(ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
        for ix in sorted(inspector.get_indexes(name), key=lambda ix: ix["name"])
        if ix["name"] and not ix["name"].startswith("sqlite_autoindex")
    )
    autoincrement = bool(re.search(r"\bAUTOINCREMENT\b", create_sql, re.IGNORECASE))
    return Table(name, columns, pk, autoincrement, fks, uniques, checks, indexes)


def _declared_type(create_sql: str, column: str, reflected) -> str:
    # SQLAlchemy maps unknown types (e.g. "JSON" or none) to NullType; the DDL text keeps what the author wrote.
    text = str(reflected) if not isinstance(reflected, sa.types.NullType) else ""
    if text:
        return text.upper()
    match = re.search(
        rf"(?:^|[(,\s]){re.escape(column)}\s+([A-Za-z][\w ]*?)(?:\(|,|\s+(?:NOT|NULL|DEFAULT|PRIMARY|UNIQUE|CHECK|REFERENCES|COLLATE)\b|$)",
        create_sql,
        re.IGNORECASE | re.MULTILINE,
    )
    return match.group(1).strip().upper() if match else ""
