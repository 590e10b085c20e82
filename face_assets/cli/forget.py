"""`face-assets forget creator|cluster ID`: its arguments, the confirmation, and the lines it prints, over
face_assets.review.forget."""

from __future__ import annotations

import argparse
import sys

import psycopg

from face_assets.db import embedded_postgres
from face_assets.db.connection import connect
from face_assets.review.decisions import ReviewError


def add_arguments(forget: argparse.ArgumentParser) -> None:
    """The `forget` subcommands, on the `face-assets forget` parser."""
    sub = forget.add_subparsers(dest="forget_what", required=True, metavar="WHAT")
    creator = sub.add_parser(
        "creator",
        help="every face, reference, crop and frame of a creator, and the tags face recognition or a review gave "
        "them; their legacy tags stay; they are never learned or proposed again",
    )
    creator.add_argument("id", type=int, metavar="ID", help="the creator's id")
    cluster = sub.add_parser(
        "cluster", help="every face, crop and frame of a cluster of unknown faces, and the cluster; never again"
    )
    cluster.add_argument("id", type=int, metavar="ID", help="the cluster's id")
    for parser in (creator, cluster):
        parser.add_argument("--yes", action="store_true", help="do not ask for a confirmation (it cannot be undone)")
        parser.add_argument("--dry-run", action="store_true", help="say what would be deleted; delete nothing")


def run(args: argparse.Namespace) -> int:
    """Run a parsed `face-assets forget ...` on the application database. Without --yes it shows what would go and
    asks (on a terminal; elsewhere it refuses, exit 2)."""
    from face_assets.review.forget import forget_cluster, forget_creator

    forget = forget_creator if args.forget_what == "creator" else forget_cluster
    try:
        with connect(embedded_postgres.app_database_url()) as conn:
            if args.dry_run or not args.yes:
                preview = forget(conn, args.id, dry_run=True)
                _print(preview.lines())
                if args.dry_run:
                    return 0
                if not _confirmed(f"{args.forget_what} {args.id}"):
                    return 2
            result = forget(conn, args.id)
    except ReviewError as exc:
        print(f"error: {exc}")
        return 2
    except psycopg.errors.UndefinedTable as exc:
        print(f"error: {exc.diag.message_primary}: the face tables are not there yet (run `face-assets run` first)")
        return 2
    _print(result.lines())
    return 0


def _confirmed(what: str) -> bool:
    if not sys.stdin.isatty():
        print(f"nothing deleted: forgetting cannot be undone; add --yes to forget {what}")
        return False
    answer = input(f"Forget {what} for good? This cannot be undone. Type 'yes' to go on: ")
    if answer.strip().lower() != "yes":
        print("nothing deleted")
        return False
    return True


def _print(lines: list[str]) -> None:
    for line in lines:
        print(line)
