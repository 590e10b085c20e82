"""The application schema's version and its ordered upgrades.

Version 1 is the baseline: the idempotent schema files every database was made with before versions existed (each
`CREATE ... IF NOT EXISTS` / `ADD COLUMN IF NOT EXISTS`), so applying it brings a database of any earlier commit to
version 1 without touching a row. Every later change is a numbered file `sql/upgrades/NNNN_<what>.sql`, applied once,
in order, each in one transaction, and recorded in `face_schema_versions`. A database newer than this code (made by
a later face_assets) is refused: running old code on it could drop what it does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

from face_assets.db.sql_files import SQL_DIR, read_sql

UPGRADES_DIR = SQL_DIR / "upgrades"
LOCK_KEY = "face_assets.schema_upgrade"

# The baseline, in dependency order: the legacy tables the face tables reference (created empty on a fresh install
# without a legacy database), then the face, matching, review and proposal tables.
BASELINE = (
    "legacy/watched_directories.sql",
    "legacy/videos.sql",
    "legacy/creators.sql",
    "legacy/video_creators.sql",
    "face/schema.sql",
    "recognition/schema.sql",
    "review/schema.sql",
    "clusters/proposals_schema.sql",
)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaTooNew(RuntimeError):
    """The database was upgraded by a newer face_assets than this one."""


@dataclass(frozen=True)
class Upgrade:
    version: int
    name: str
    files: tuple[str, ...]  # under sql/


def upgrades() -> list[Upgrade]:
    """Every upgrade this code knows, in order: the baseline, then sql/upgrades/NNNN_*.sql (numbers without gaps)."""
    found = [Upgrade(1, "baseline", BASELINE)]
    for path in sorted(UPGRADES_DIR.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise ValueError(f"{path}: upgrade files are named NNNN_<what>.sql")
        found.append(Upgrade(int(match[1]), match[2], (f"upgrades/{path.name}",)))
    numbers = [u.version for u in found]
    if numbers != list(range(1, len(found) + 1)):
        raise ValueError(f"sql/upgrades: versions must run 2, 3, ... without gaps or repeats, found {numbers[1:]}")
    return found


def latest_version() -> int:
    return upgrades()[-1].version


def current_version(conn: psycopg.Connection) -> int | None:
    """The database's schema version; None before versions existed (or on an empty database)."""
    if conn.execute("SELECT to_regclass('face_schema_versions')").fetchone()[0] is None:
        return None
    return conn.execute("SELECT max(version) FROM face_schema_versions").fetchone()[0]


def too_new_message(found: int, known: int) -> str:
    return (
        f"the database's schema is version {found}, newer than this face_assets knows ({known}): a later face_assets "
        "upgraded it, and downgrades are not supported. Install that face_assets again, or restore a backup taken "
        "before the upgrade (`face-assets db restore FILE --replace`)."
    )


def check_not_newer(conn: psycopg.Connection) -> int | None:
    """The database's version, or SchemaTooNew when this code is older than the database."""
    found = current_version(conn)
    known = latest_version()
    if found is not None and found > known:
        raise SchemaTooNew(too_new_message(found, known))
    return found


def upgrade(conn: psycopg.Connection) -> list[int]:
    """Apply the pending upgrades in order (each in one transaction, concurrent callers wait on an advisory lock);
    the versions applied (none when the schema is current: one cheap query)."""
    pending = _pending(conn)
    if not pending:
        return []
    applied = []
    for step in pending:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOCK_KEY,))
            conn.execute(read_sql("face/schema_versions.sql"))
            if (current_version(conn) or 0) >= step.version:
                continue  # another process applied it while this one waited
            for name in step.files:
                conn.execute(read_sql(name))
            conn.execute(
                "INSERT INTO face_schema_versions (version, name, face_assets_version) VALUES (%s, %s, %s)",
                (step.version, step.name, _package_version()),
            )
        applied.append(step.version)
    return applied


def _pending(conn: psycopg.Connection) -> list[Upgrade]:
    found = check_not_newer(conn) or 0
    return [u for u in upgrades() if u.version > found]


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("face_assets")
    except PackageNotFoundError:
        return "unknown"


def describe(conn: psycopg.Connection) -> dict:
    """The schema's state for `doctor`, backups and restores: version, latest known, what is pending."""
    found = current_version(conn)
    return {
        "version": found,
        "latest": latest_version(),
        "pending": [u.version for u in upgrades() if u.version > (found or 0)],
    }
