"""Loads one legacy table into PostgreSQL.

Every source value arrives as text and PostgreSQL itself decides what converts, so the rules are exactly the target
column's type rules. What does not fit is recorded in `migration_rejects`: a bad value in a nullable column is
NULLed and the row kept ('value_nulled'); an orphan row (broken foreign key) or a bad value in a NOT NULL column
keeps the row out ('row_rejected').

Two ways, same outcome:
- direct (a first load into an empty table, PostgreSQL 17+): COPY straight into the target with ON_ERROR ignore;
  the rows PostgreSQL skipped (a value its input function refuses) are then staged and go the staged way. Orphans,
  NOT NULL, CHECK or UNIQUE trouble undo the attempt (a savepoint) and the table goes the staged way whole.
- staged: COPY into a staging table, `pg_input_is_valid` (PG 16+) per value, set-based flags, then upsert. Only if
  an unexpected constraint (CHECK, UNIQUE) refuses the set-based insert does it fall back to row-at-a-time inserts
  to find the culprits.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from face_assets.db.sql_files import SQL_DIR, read_sql
from face_assets.migration import ddl
from face_assets.migration.legacy_schema import LegacySchema, Table, read_only, sqlite_quote
from face_assets.settings import PathMap

log = logging.getLogger(__name__)

STAGE = "_legacy_stage"
READ_BATCH = 10_000


@dataclass
class TableResult:
    table: str
    source_rows: int
    migrated_rows: int
    rejected_rows: int
    nulled_rows: int
    added_columns: list[str]
    seconds: float

    @property
    def reconciled(self) -> bool:
        return self.source_rows == self.migrated_rows + self.rejected_rows


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def target_columns(conn: psycopg.Connection, table: str) -> dict[str, tuple[str, bool]]:
    """{column: (type as PostgreSQL writes it, NOT NULL)} of a target table; {} when it does not exist."""
    rows = conn.execute(read_sql("migration/target_columns.sql"), (table,)).fetchall()
    return {name: (pgtype, notnull) for name, pgtype, notnull in rows}


def ensure_target_table(conn: psycopg.Connection, table: Table) -> list[str]:
    """Create the target table (committed DDL from sql/legacy, else translated) and add missing columns."""
    committed = SQL_DIR / "legacy" / f"{table.name}.sql"
    if committed.exists():
        conn.execute(read_sql(f"legacy/{table.name}.sql"))
    else:
        log.warning("table %s is not in sql/legacy: translating its SQLite DDL", table.name)
        conn.execute(ddl.table_script(table, json_columns=frozenset()))
    existing = target_columns(conn, table.name)
    added = [c.name for c in table.columns if c.name not in existing]
    for name in added:
        log.warning("column %s.%s is not in the committed DDL: adding it", table.name, name)
        conn.execute(ddl.add_column(table, table.column(name)))
    return added


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return str(value)


def _as_json(value):
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    return value


def _is_path_column(name: str) -> bool:
    return name == "path" or name.endswith("_path")


def _has_rowid(legacy_db: Path, table: str) -> bool:
    with read_only(legacy_db) as source:
        try:
            source.execute(f"SELECT rowid FROM {sqlite_quote(table)} LIMIT 0")
            return True
        except sqlite3.OperationalError:  # a WITHOUT ROWID table
            return False


def stage_rows(
    conn: psycopg.Connection, legacy_db: Path, table: Table, path_map: PathMap, rowids: Sequence[int] | None = None
) -> int:
    """COPY the legacy rows, as text, into a temporary staging table. Returns the number of rows.

    `_n` is the row's SQLite rowid: the few rows that end up in migration_rejects are read back from SQLite by it,
    whole and with their original types, instead of carrying a JSON copy of every row. (A WITHOUT ROWID table,
    which has none, carries that JSON copy in `_row`.) `rowids`: only those rows (the direct load's leftovers).
    """
    columns = table.column_names
    with_rowid = _has_rowid(legacy_db, table.name)
    if rowids is not None and not with_rowid:
        raise ValueError(f"{table.name} has no rowid to select rows by")
    try:  # room for the staging table in memory; possible only before the session's first temporary table
        with conn.transaction():
            conn.execute("SET LOCAL temp_buffers = '256MB'")
    except psycopg.errors.InvalidParameterValue:
        pass
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (_n bigint, {}, _row jsonb, _bad text[], _why text[], _reason text) ON COMMIT DROP"
        ).format(ident(STAGE), sql.SQL(", ").join(sql.SQL("{} text").format(ident(c)) for c in columns))
    )
    path_columns = [i for i, c in enumerate(columns) if _is_path_column(c)]
    target = ["_n", *columns] + ([] if with_rowid else ["_row"])
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(ident(STAGE), sql.SQL(", ").join(ident(c) for c in target))
    names = ", ".join(sqlite_quote(c) for c in columns)
    select = f"SELECT {'rowid, ' if with_rowid else ''}{names} FROM {sqlite_quote(table.name)}"
    params: tuple = ()
    if rowids is not None:  # one parameter whatever the count (SQLite caps the number of parameters)
        select += " WHERE rowid IN (SELECT value FROM json_each(?))"
        params = (json.dumps(list(rowids)),)
    n = 0
    with read_only(legacy_db) as source, conn.cursor().copy(copy_sql) as copy:
        cursor = source.execute(select, params)
        while batch := cursor.fetchmany(READ_BATCH):
            for raw in batch:
                # psycopg's dumpers turn ints, floats and bytes into text; only paths are rewritten here.
                if path_columns or not with_rowid:
                    values = list(raw)
                    for i in path_columns:
                        values[i + with_rowid] = path_map.apply(_as_text(values[i + with_rowid]))
                    if not with_rowid:
                        values = [
                            n,
                            *values,
                            json.dumps({c: _as_json(v) for c, v in zip(columns, raw)}, ensure_ascii=False),
                        ]
                    copy.write_row(values)
                else:
                    copy.write_row(raw)
                n += 1
    # Temporary tables are never analyzed automatically; without statistics every later statement (the checks,
    # the orphan anti-joins, the load, the count) is planned for a guessed size.
    conn.execute(sql.SQL("ANALYZE {}").format(ident(STAGE)))
    return n


def flag_unconvertible(conn: psycopg.Connection, types: dict[str, tuple[str, bool]], columns: list[str]) -> bool:
    """Mark, per staged row, the values PostgreSQL cannot convert to their column's type; True if any.

    Only the rows holding such a value are written (the rest of the staging table is read once, not rewritten).
    """
    checks = [(c, types[c][0]) for c in columns if types[c][0] != "text"]
    if not checks:
        return False
    invalid = [
        sql.SQL("({c} IS NOT NULL AND NOT pg_input_is_valid({c}, {t}))").format(c=ident(c), t=sql.Literal(t))
        for c, t in checks
    ]
    bad = sql.SQL(", ").join(
        sql.SQL("CASE WHEN {test} THEN {name} END").format(test=test, name=sql.Literal(c))
        for test, (c, _) in zip(invalid, checks)
    )
    why = sql.SQL(", ").join(
        sql.SQL("CASE WHEN {test} THEN format('%s = %L is not a valid %s', {name}, {c}, {t}) END").format(
            test=test, c=ident(c), t=sql.Literal(t), name=sql.Literal(c)
        )
        for test, (c, t) in zip(invalid, checks)
    )
    result = conn.execute(
        sql.SQL(
            "UPDATE {s} SET _bad = array_remove(ARRAY[{bad}]::text[], NULL), "
            "_why = array_remove(ARRAY[{why}]::text[], NULL) WHERE {any}"
        ).format(s=ident(STAGE), bad=bad, why=why, any=sql.SQL(" OR ").join(invalid))
    )
    return result.rowcount > 0


def flag_rejected_rows(conn: psycopg.Connection, table: Table, types: dict[str, tuple[str, bool]]) -> None:
    """Rows that cannot be kept: a NOT NULL column without a usable value, or a foreign key with no parent."""
    required = [(c, t) for c, (t, notnull) in types.items() if notnull and c in table.column_names]
    if required:  # one pass over the staging table for all NOT NULL columns
        missing = [
            sql.SQL("({c} IS NULL OR {name} = ANY(coalesce(_bad, '{{}}')))").format(c=ident(c), name=sql.Literal(c))
            for c, _ in required
        ]
        reasons = sql.SQL(", ").join(
            sql.SQL(
                "CASE WHEN {m} THEN format('%s is NOT NULL but its value %L cannot become %s', {name}, {c}, {t}) END"
            ).format(m=m, name=sql.Literal(c), c=ident(c), t=sql.Literal(t))
            for m, (c, t) in zip(missing, required)
        )
        conn.execute(
            sql.SQL("UPDATE {s} SET _reason = concat_ws('; ', {reasons}) WHERE _reason IS NULL AND ({any})").format(
                s=ident(STAGE), reasons=reasons, any=sql.SQL(" OR ").join(missing)
            )
        )
    # An orphan of an orphan is an orphan: repeat until no row changes (self-references such as tags.parent_id).
    changed = True
    while changed:
        changed = False
        for fk in table.foreign_keys:
            parent_types = types if fk.parent == table.name else target_columns(conn, fk.parent)
            if not parent_types:
                continue
            match = sql.SQL(" AND ").join(
                sql.SQL("p.{pc} = s.{c}::{t}").format(pc=ident(pc), c=ident(c), t=sql.SQL(parent_types[pc][0]))
                for c, pc in zip(fk.columns, fk.parent_columns)
            )
            present = sql.SQL(" AND ").join(
                sql.SQL("s.{c} IS NOT NULL AND NOT ({name} = ANY(coalesce(s._bad, '{{}}')))").format(
                    c=ident(c), name=sql.Literal(c)
                )
                for c in fk.columns
            )
            in_stage = sql.SQL("")
            if fk.parent == table.name:  # the parent row may arrive in this same load
                stage_match = sql.SQL(" AND ").join(
                    sql.SQL("p.{pc} = s.{c}").format(pc=ident(pc), c=ident(c))
                    for c, pc in zip(fk.columns, fk.parent_columns)
                )
                in_stage = sql.SQL(" AND NOT EXISTS (SELECT 1 FROM {st} p WHERE p._reason IS NULL AND {m})").format(
                    st=ident(STAGE), m=stage_match
                )
            keys = sql.SQL(", ").join(sql.SQL("s.{}").format(ident(c)) for c in fk.columns)
            result = conn.execute(
                sql.SQL(
                    "UPDATE {st} s SET _reason = format('orphan: %s = %s has no row in %s', {cols}, concat_ws(', ', {keys}), {parent})"
                    " WHERE s._reason IS NULL AND {present}"
                    " AND NOT EXISTS (SELECT 1 FROM {pt} p WHERE {match}){in_stage}"
                ).format(
                    st=ident(STAGE),
                    cols=sql.Literal(", ".join(fk.columns)),
                    keys=keys,
                    parent=sql.Literal(fk.parent),
                    present=present,
                    pt=ident(fk.parent),
                    match=match,
                    in_stage=in_stage,
                )
            )
            changed = changed or result.rowcount > 0


def _converted(column: str, pgtype: str, has_bad: bool = True) -> sql.Composable:
    if pgtype == "text":
        return ident(column)
    if not has_bad:
        return sql.SQL("{c}::{t}").format(c=ident(column), t=sql.SQL(pgtype))
    return sql.SQL("CASE WHEN {name} = ANY(coalesce(_bad, '{{}}')) THEN NULL ELSE {c}::{t} END").format(
        name=sql.Literal(column), c=ident(column), t=sql.SQL(pgtype)
    )


def upsert(
    conn: psycopg.Connection,
    table: Table,
    types: dict[str, tuple[str, bool]],
    where: sql.Composable,
    has_bad: bool = True,
) -> int:
    """INSERT the kept staged rows, updating rows already there by primary key (re-materialization)."""
    columns = table.column_names
    pk = list(table.primary_key)
    target = sql.SQL(", ").join(ident(c) for c in columns)
    values = sql.SQL(", ").join(_converted(c, types[c][0], has_bad) for c in columns)
    select = sql.SQL("SELECT {v} FROM {st} WHERE _reason IS NULL AND {w}").format(v=values, st=ident(STAGE), w=where)
    if pk:
        others = [c for c in columns if c not in pk]
        if others:
            assign = sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=ident(c)) for c in others)
            changed = sql.SQL("({}) IS DISTINCT FROM ({})").format(
                sql.SQL(", ").join(sql.SQL("t.{}").format(ident(c)) for c in others),
                sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(ident(c)) for c in others),
            )
            action = sql.SQL("DO UPDATE SET {} WHERE {}").format(assign, changed)
        else:
            action = sql.SQL("DO NOTHING")
        query = sql.SQL("INSERT INTO {t} AS t ({cols}) {select} ON CONFLICT ({pk}) {action}").format(
            t=ident(table.name),
            cols=target,
            select=select,
            pk=sql.SQL(", ").join(ident(c) for c in pk),
            action=action,
        )
    else:  # no key to upsert on: insert only rows not already there
        query = sql.SQL("INSERT INTO {t} ({cols}) SELECT * FROM ({select}) n EXCEPT SELECT {cols} FROM {t}").format(
            t=ident(table.name), cols=target, select=select
        )
    return conn.execute(query).rowcount


def _index_stage(conn: psycopg.Connection) -> None:
    """An index on _n, for the paths that touch staged rows one at a time (rejects, the fallback)."""
    conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS _legacy_stage_n ON {} (_n)").format(ident(STAGE)))


def _bulk_load(conn: psycopg.Connection, table: Table, types, has_bad: bool) -> None:
    """First load into an empty table: drop its secondary indexes and foreign keys, insert, rebuild them.

    Building an index once is far cheaper than updating it per row, and re-adding a foreign key checks every row
    in one pass instead of one lookup per row. Orphans are already kept out, so the re-check passes; if it does
    not, the caller's savepoint restores everything.
    """
    deferred = _deferrable_objects(conn, table)
    if any(kind == "fkey" for kind, _, _ in deferred):  # dropping a foreign key locks its parent
        lock_parents(conn, table, "ACCESS EXCLUSIVE")
    _drop_deferred(conn, table, deferred)
    upsert(conn, table, types, sql.SQL("true"), has_bad)
    _restore_deferred(conn, table, deferred)


def _deferrable_objects(conn: psycopg.Connection, table: Table) -> list[tuple[str, str, str]]:
    """(kind 'index' or 'fkey', name, definition) of what a first load drops and rebuilds."""
    return conn.execute(read_sql("migration/deferrable_objects.sql"), {"table": table.name}).fetchall()


def _drop_deferred(conn: psycopg.Connection, table: Table, deferred) -> None:
    for kind, name, _ in deferred:
        if kind == "index":
            conn.execute(sql.SQL("DROP INDEX {}").format(ident(name)))
        else:
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident(table.name), ident(name)))


def _restore_deferred(conn: psycopg.Connection, table: Table, deferred) -> None:
    """Rebuild what _drop_deferred dropped: an index built once, a foreign key re-checking every row in one pass."""
    for kind, name, definition in deferred:
        if kind == "index":
            conn.execute(definition)
        else:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    ident(table.name), ident(name), sql.SQL(definition)
                )
            )


def load_kept_rows(conn: psycopg.Connection, table: Table, types: dict[str, tuple[str, bool]], has_bad: bool) -> None:
    empty = conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(ident(table.name))).fetchone()[0]
    try:
        with conn.transaction():
            if empty:
                _bulk_load(conn, table, types, has_bad)
            else:
                upsert(conn, table, types, sql.SQL("true"), has_bad)
        return
    except psycopg.errors.IntegrityError as exc:
        log.warning(
            "set-based load of %s refused (%s): finding the rows one at a time", table.name, exc.diag.message_primary
        )
    _index_stage(conn)
    for (n,) in conn.execute(
        sql.SQL("SELECT _n FROM {} WHERE _reason IS NULL ORDER BY _n").format(ident(STAGE))
    ).fetchall():
        try:
            with conn.transaction():
                upsert(conn, table, types, sql.SQL("_n = {}").format(sql.Literal(n)))
        except psycopg.errors.IntegrityError as exc:
            conn.execute(
                sql.SQL("UPDATE {} SET _reason = %s WHERE _n = %s").format(ident(STAGE)),
                (f"refused by the target: {exc.diag.message_primary}", n),
            )


def record_rejects(conn: psycopg.Connection, legacy_db: Path, table: Table, staged: bool = True) -> None:
    """Write this table's rejects (replacing an earlier run's), each with its whole source row as JSONB.

    `staged` False: no row was staged (a direct load took them all), so there is none to write."""
    conn.execute("DELETE FROM migration_rejects WHERE table_name = %s", (table.name,))
    if not staged:
        return
    rowids = [
        n
        for (n,) in conn.execute(
            sql.SQL("SELECT _n FROM {} WHERE _row IS NULL AND (_reason IS NOT NULL OR cardinality(_bad) > 0)").format(
                ident(STAGE)
            )
        )
    ]
    if rowids:  # read those rows back from SQLite, whole and with their original types
        columns = table.column_names
        names = ", ".join(sqlite_quote(c) for c in columns)
        with read_only(legacy_db) as source:
            rows = []
            for i in range(0, len(rowids), 500):
                chunk = rowids[i : i + 500]
                rows += source.execute(
                    f"SELECT rowid, {names} FROM {sqlite_quote(table.name)}"
                    f" WHERE rowid IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
        _index_stage(conn)
        conn.cursor().executemany(
            sql.SQL("UPDATE {} SET _row = %s::jsonb WHERE _n = %s").format(ident(STAGE)),
            [
                (json.dumps({c: _as_json(v) for c, v in zip(columns, row[1:])}, ensure_ascii=False), row[0])
                for row in rows
            ],
        )
    key = (
        sql.SQL(", ").join(sql.SQL("{name}, _row -> {name}").format(name=sql.Literal(c)) for c in table.primary_key)
        if table.primary_key
        else None
    )
    conn.execute(
        sql.SQL(read_sql("migration/record_rejects.sql")).format(
            stage=ident(STAGE),
            key=sql.SQL("jsonb_build_object({})").format(key) if key else sql.SQL("NULL::jsonb"),
        ),
        {"table": table.name},
    )


def set_sequence(conn: psycopg.Connection, table: Table, sqlite_seq: int | None) -> None:
    """Set the identity past the largest id, and past what AUTOINCREMENT already handed out (no id reuse)."""
    if not ddl.is_identity(table):
        return
    pk = table.primary_key[0]
    conn.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence({tl}, {cl}), GREATEST(coalesce(max({c}), 0), %s, 1),"
            " GREATEST(coalesce(max({c}), 0), %s) > 0) FROM {t}"
        ).format(tl=sql.Literal(ddl.quote(table.name)), cl=sql.Literal(pk), c=ident(pk), t=ident(table.name)),
        (sqlite_seq or 0, sqlite_seq or 0),
    )


class _Undo(Exception):
    """The direct load cannot give the staged way's outcome: undo it (its savepoint) and stage the table."""


# PostgreSQL's notice for each row COPY ... ON_ERROR ignore skipped (LOG_VERBOSITY verbose), in English.
_SKIPPED_LINE = re.compile(r"at line (\d+) for column")


@dataclass
class DirectLoad:
    copied: int  # rows COPY wrote into the target
    staged: int  # rows it skipped, then staged
    inserted: int  # of those, rows inserted (with NULLed values)


def _is_empty(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(ident(table))).fetchone()[0]


def _without_fk_triggers(conn: psycopg.Connection) -> bool:
    """Switch this transaction's foreign-key triggers off (superuser, or the SET privilege on the parameter).

    Rows then load without one parent lookup each and without dropping the foreign keys, which would lock the
    parent tables against the sibling tables loading at the same time; `_has_orphans` checks the rows instead.
    English notices too, for `_SKIPPED_LINE` (same privilege). False (and nothing changed) without the privilege.
    """
    try:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("SET LOCAL lc_messages = 'C'")
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def lock_parents(conn: psycopg.Connection, table: Table, mode: str) -> None:
    """Lock the tables `table` references, all in one statement and in name order: tables loading side by side
    then never wait on each other in a circle (deadlock)."""
    parents = sorted(
        {
            fk.parent
            for fk in table.foreign_keys
            if fk.parent != table.name and conn.execute("SELECT to_regclass(%s)", (ddl.quote(fk.parent),)).fetchone()[0]
        }
    )
    if parents:
        conn.execute(
            sql.SQL("LOCK TABLE {} IN {} MODE").format(sql.SQL(", ").join(ident(p) for p in parents), sql.SQL(mode))
        )


def _has_orphans(conn: psycopg.Connection, table: Table) -> bool:
    """Whether a loaded row breaks one of the table's foreign keys. The parents are SHARE-locked first, so they
    stay as checked until commit, as the foreign key's own check would keep them."""
    lock_parents(conn, table, "SHARE")
    for fk in table.foreign_keys:
        if not target_columns(conn, fk.parent):
            continue  # no such table in the target: the DDL has no foreign key to it either
        query = sql.SQL(read_sql("migration/orphans.sql")).format(
            child=ident(table.name),
            parent=ident(fk.parent),
            present=sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(ident(c)) for c in fk.columns),
            match=sql.SQL(" AND ").join(
                sql.SQL("p.{} = c.{}").format(ident(pc), ident(c)) for c, pc in zip(fk.columns, fk.parent_columns)
            ),
        )
        if conn.execute(query).fetchone()[0]:
            return True
    return False


def copy_into_target(
    conn: psycopg.Connection, legacy_db: Path, table: Table, path_map: PathMap
) -> tuple[int, int, list[int]]:
    """COPY the legacy rows straight into the target, PostgreSQL skipping those with a value it cannot take.

    Returns (rows sent, rows written, SQLite rowids of the skipped rows). Raises _Undo when the skipped rows cannot
    all be told (notices in another language, say).
    """
    columns = table.column_names
    path_columns = [i for i, c in enumerate(columns) if _is_path_column(c)]
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN WITH (ON_ERROR ignore, LOG_VERBOSITY verbose)").format(
        ident(table.name), sql.SQL(", ").join(ident(c) for c in columns)
    )
    quoted = sqlite_quote(table.name)
    notices: list[str] = []

    def on_notice(diag) -> None:
        notices.append(diag.message_primary or "")

    sent = 0
    conn.add_notice_handler(on_notice)
    try:
        with read_only(legacy_db) as source:
            source.execute("BEGIN")  # one snapshot for the rows and for the rowids looked up below
            cursor = conn.cursor()
            with cursor.copy(copy_sql) as copy:
                rows = source.execute(
                    f"SELECT {', '.join(sqlite_quote(c) for c in columns)} FROM {quoted} ORDER BY rowid"
                )
                while batch := rows.fetchmany(READ_BATCH):
                    if path_columns:
                        for raw in batch:
                            values = list(raw)
                            for i in path_columns:
                                values[i] = path_map.apply(_as_text(values[i]))
                            copy.write_row(values)
                    else:
                        for raw in batch:
                            copy.write_row(raw)
                    sent += len(batch)
            copied = cursor.rowcount
            lines = sorted({int(m.group(1)) for m in map(_SKIPPED_LINE.search, notices) if m})
            if len(lines) != sent - copied or (lines and not 1 <= lines[0] <= lines[-1] <= sent):
                raise _Undo(f"{sent - copied} rows skipped, {len(lines)} of them told apart")
            skipped = []
            if lines:  # line n of the COPY is the n-th row in rowid order
                rowids = [r for (r,) in source.execute(f"SELECT rowid FROM {quoted} ORDER BY rowid")]
                skipped = [rowids[n - 1] for n in lines]
    finally:
        conn.remove_notice_handler(on_notice)
    return sent, copied, skipped


def load_direct(
    conn: psycopg.Connection,
    legacy_db: Path,
    table: Table,
    types,
    path_map: PathMap,
    parents_ready: Callable[[], None] = lambda: None,
) -> DirectLoad | None:
    """The direct way (see the module's docstring) for a first load; None where it does not apply or was undone.

    `parents_ready()` returns once the tables this one references are committed: the COPY does not need them (no
    foreign-key trigger fires), only what comes after it does."""
    if conn.info.server_version < 170000 or not _has_rowid(legacy_db, table.name) or not _is_empty(conn, table.name):
        return None
    try:
        with conn.transaction():
            trusted = _without_fk_triggers(conn)
            deferred = [
                (kind, name, definition)
                for kind, name, definition in _deferrable_objects(conn, table)
                if kind == "index" or not trusted
            ]
            if not trusted:  # dropping a foreign key locks its parent
                parents_ready()
                lock_parents(conn, table, "ACCESS EXCLUSIVE")
            _drop_deferred(conn, table, deferred)
            _sent, copied, skipped = copy_into_target(conn, legacy_db, table, path_map)
            parents_ready()
            if trusted and _has_orphans(conn, table):
                raise _Undo("orphan rows")
            inserted = 0
            if skipped:  # the staged way for these rows only: flags, reasons, NULLed values, orphans among them
                stage_rows(conn, legacy_db, table, path_map, rowids=skipped)
                has_bad = flag_unconvertible(conn, types, table.column_names)
                flag_rejected_rows(conn, table, types)
                inserted = upsert(conn, table, types, sql.SQL("true"), has_bad)
            if trusted:
                conn.execute("SET LOCAL session_replication_role = DEFAULT")
            _restore_deferred(conn, table, deferred)
    except (_Undo, psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        message = exc.diag.message_primary if isinstance(exc, psycopg.Error) else str(exc)
        log.info("%s: direct load undone (%s); staging the whole table", table.name, message)
        return None
    return DirectLoad(copied=copied, staged=len(skipped), inserted=inserted)


def migrate_table(
    conn: psycopg.Connection,
    schema: LegacySchema,
    name: str,
    path_map: PathMap,
    parents_ready: Callable[[], None] = lambda: None,
) -> TableResult:
    """Migrate one table inside the caller's transaction; the staging table disappears at commit.

    `parents_ready()` must return once the tables `name` references are committed; it is called before the first
    step that reads them, so the rows can be read and copied meanwhile (see migrate_tables). The default: they are.
    """
    started = time.perf_counter()
    table = schema.tables[name]
    conn.execute("SET LOCAL TIME ZONE 'UTC'")  # legacy timestamps without a zone are UTC
    ensure_rejects_table(conn)
    added = ensure_target_table(conn, table)
    types = target_columns(conn, name)
    direct = load_direct(conn, schema.path, table, types, path_map, parents_ready)
    if direct is None:
        source_rows = stage_rows(conn, schema.path, table, path_map)
        has_bad = flag_unconvertible(conn, types, table.column_names)
        parents_ready()
        flag_rejected_rows(conn, table, types)
        load_kept_rows(conn, table, types, has_bad)
    record_rejects(conn, schema.path, table, staged=direct is None or direct.staged > 0)
    set_sequence(conn, table, schema.sequence_values().get(name))
    if direct is not None and not direct.staged:
        rejected = nulled = 0
    else:
        rejected, nulled = conn.execute(
            sql.SQL(read_sql("migration/stage_counts.sql")).format(stage=ident(STAGE))
        ).fetchone()
    if direct is None:
        migrated = count_migrated(conn, table, types)
    else:  # the table was empty: what went in is what migrated
        source_rows = direct.copied + direct.staged
        migrated = direct.copied + direct.inserted
    return TableResult(
        table=name,
        source_rows=source_rows,
        migrated_rows=migrated,
        rejected_rows=rejected,
        nulled_rows=nulled,
        added_columns=added,
        seconds=time.perf_counter() - started,
    )


def ensure_rejects_table(conn: psycopg.Connection) -> None:
    if not conn.execute(read_sql("migration/ensure_rejects.sql")).fetchone()[0]:
        conn.execute(read_sql("migration/rejects.sql"))


def count_migrated(conn: psycopg.Connection, table: Table, types) -> int:
    """Target rows whose key is one of the staged source rows (rows added later by other tools do not count)."""
    if not table.primary_key:
        return conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE _reason IS NULL").format(ident(STAGE))).fetchone()[0]
    match = sql.SQL(" AND ").join(
        sql.SQL("t.{c} = s.{c}::{ty}").format(c=ident(c), ty=sql.SQL(types[c][0])) for c in table.primary_key
    )
    return conn.execute(
        sql.SQL(
            "SELECT count(*) FROM {t} t WHERE EXISTS (SELECT 1 FROM {st} s WHERE s._reason IS NULL AND {m})"
        ).format(t=ident(table.name), st=ident(STAGE), m=match)
    ).fetchone()[0]
