"""`face-assets db ...`: its arguments, and the lines `backup` and `restore` print, over face_assets.db.backup.

`start`, `stop`, `status` and `url` (the embedded server) stay in face_assets.cli.main (`cmd_db`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

SERVER_ACTIONS = {
    "start": "start the embedded PostgreSQL (or find it running) and print the application database's URL",
    "stop": "stop the embedded PostgreSQL",
    "status": "say whether the embedded PostgreSQL runs (exit 3 when stopped)",
    "url": "print the application database's URL (psql and psycopg accept it)",
}


def add_arguments(db: argparse.ArgumentParser, server: Callable[[argparse.Namespace], int]) -> None:
    """The `db` subcommands, on the `face-assets db` parser; `server` runs the embedded server's actions."""
    sub = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in SERVER_ACTIONS.items():
        sub.add_parser(name, help=help_text).set_defaults(func=server)
    backup = sub.add_parser(
        "backup",
        help="dump the application database (pg_dump -Fc) into FACE_ASSETS_BACKUP_DIR, keeping the newest "
        "FACE_ASSETS_BACKUP_KEEP",
    )
    backup.add_argument(
        "--to", type=Path, metavar="FILE", help="write this file instead (outside the rotation: nothing is removed)"
    )
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="restore a backup into the application database (refused while a Dagster run is in progress)"
    )
    restore.add_argument("file", type=Path, metavar="FILE", help="a backup made by `face-assets db backup`")
    restore.add_argument(
        "--replace",
        action="store_true",
        help="the database is not empty: drop everything in it and restore, in one transaction",
    )
    restore.set_defaults(func=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    from face_assets.db import backup, embedded_postgres

    try:
        result = backup.backup(embedded_postgres.app_database_url(), to=args.to)
    except (backup.BackupError, ValueError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(result.describe())
    for path in result.removed:
        print(f"removed {path} (FACE_ASSETS_BACKUP_KEEP={len(result.kept)})")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from face_assets.db import instance as instance_env

    instance_env.prepare()  # DATABASE_URL (the embedded server started if need be) and Dagster's storage
    from dagster import DagsterInstance

    from face_assets.db import backup

    try:
        with DagsterInstance.get() as instance:
            backup.refuse_if_runs(instance)
        result = backup.restore(os.environ["DATABASE_URL"], args.file, replace=args.replace)
    except backup.RestoreRefused as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        return 2
    except backup.BackupError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    print(result.describe())
    print(
        "Dagster's own storage (run history, the videos' partitions) is not part of a backup: the library sensor "
        "adds the partitions again on its next scan."
    )
    return 0
