"""Helpers shared by the migration tests."""

from pathlib import Path

import psycopg

from face_assets.migration.checks import reconcile
from face_assets.migration.legacy_schema import LegacySchema
from face_assets.migration.loader import migrate_table
from face_assets.settings import PathMap
from face_assets_tests.conftest import LIBRARY

PATH_MAP = PathMap.parse(f"/srv/media={LIBRARY}")


def migrate_all(url: str, legacy_db: Path, path_map: PathMap = PATH_MAP) -> dict:
    """Every table of `legacy_db` in load order, one transaction each (as the serial loader does), with its
    reconciliation checks in `.check`: {table: TableResult}."""
    schema = LegacySchema.read(legacy_db)
    results = {}
    with psycopg.connect(url) as conn:
        for name in schema.load_order:
            with conn.transaction():
                results[name] = migrate_table(conn, schema, name, path_map)
                results[name].check = reconcile(conn, schema, name)
    return results
