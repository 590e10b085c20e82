"""One asset per legacy table (group `legacy_migration`), built from the legacy schema itself.

Dependencies follow the foreign keys, so parents load before children. Each asset carries two blocking checks:
source rows = migrated + rejected rows, and a checksum of the key columns.
"""


import logging
import re

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Definitions,
    MaterializeResult,
    MetadataValue,
    asset,
    definitions,
)

from face_assets import settings
from face_assets.migration.checks import reconcile
from face_assets.migration.legacy_schema import LegacySchema
from face_assets.migration.loader import migrate_table
from face_assets.resources.database import PostgresResource
from face_assets.retries import DATABASE_RETRY, transient_only
from face_assets.resources.legacy_database import LegacyDatabase
from face_assets.sql_files import SQL_DIR

GROUP = "legacy_migration"
KEY_PREFIX = "legacy"

log = logging.getLogger(__name__)


def legacy_key(table: str) -> AssetKey:
    return AssetKey([KEY_PREFIX, table])


def table_graph() -> dict[str, list[str]]:
    """{table: tables it depends on}, from FACE_ASSETS_LEGACY_DB when it is readable, else from sql/legacy/.

    The fallback keeps the asset graph visible in the UI when no legacy file is configured (after a migration, say).
    """
    path = settings.legacy_db()
    if path is not None and path.is_file():
        try:
            schema = LegacySchema.read(path)
            return {name: schema.dependencies(name) for name in schema.load_order}
        except Exception as exc:  # a broken file must not break loading the code location
            log.warning("could not read the legacy schema from %s (%s): using sql/legacy", path, exc)
    graph = {}
    for file in sorted((SQL_DIR / "legacy").glob("*.sql")):
        text = file.read_text()
        graph[file.stem] = sorted(set(re.findall(r"REFERENCES\s+\"?(\w+)\"?", text)) - {file.stem})
    return graph


def build_table_asset(table: str, parents: list[str]) -> AssetsDefinition:
    key = legacy_key(table)

    @asset(
        key=key,
        group_name=GROUP,
        deps=[legacy_key(p) for p in parents],
        kinds={"postgres", "sqlite"},
        retry_policy=DATABASE_RETRY,
        description=f"Legacy table `{table}` migrated from SQLite into PostgreSQL (rejects in migration_rejects).",
        check_specs=[
            AssetCheckSpec("rows_reconcile", asset=key, blocking=True,
                           description="source rows = migrated rows + rejected rows"),
            AssetCheckSpec("key_checksum", asset=key, blocking=True,
                           description="checksum of the key columns of the kept rows matches the source"),
        ],
    )
    @transient_only()
    def _migrate(context: AssetExecutionContext, database: PostgresResource, legacy: LegacyDatabase):
        schema = legacy.schema()
        if table not in schema.tables:
            raise ValueError(f"table {table!r} is not in the legacy database {schema.path}")
        with database.connect() as conn:
            result = migrate_table(conn, schema, table, legacy.paths())
            check = reconcile(conn, schema, table)
        context.log.info(
            f"{table}: {result.source_rows} source rows, {result.migrated_rows} migrated, "
            f"{result.rejected_rows} rejected, {result.nulled_rows} with NULLed values"
        )
        return MaterializeResult(
            metadata={
                "source_rows": result.source_rows,
                "migrated_rows": result.migrated_rows,
                "rejected_rows": result.rejected_rows,
                "rows_with_nulled_values": result.nulled_rows,
                "added_columns": MetadataValue.json(result.added_columns),
                "seconds": round(result.seconds, 3),
                "dagster/row_count": result.migrated_rows,
            },
            check_results=[
                AssetCheckResult(
                    check_name="rows_reconcile",
                    passed=check.counts_match,
                    severity=AssetCheckSeverity.ERROR,
                    metadata={
                        "source_rows": check.source_rows,
                        "migrated_rows": check.migrated_rows,
                        "rejected_rows": check.rejected_rows,
                    },
                ),
                AssetCheckResult(
                    check_name="key_checksum",
                    passed=check.checksums_match,
                    severity=AssetCheckSeverity.ERROR,
                    metadata={"source": check.source_checksum, "target": check.target_checksum},
                ),
            ],
        )

    return _migrate


def build_legacy_assets() -> list[AssetsDefinition]:
    return [build_table_asset(table, parents) for table, parents in table_graph().items()]


@definitions
def legacy_tables() -> Definitions:
    """The table assets, built when the code location loads (from FACE_ASSETS_LEGACY_DB's schema, else sql/legacy)."""
    return Definitions(assets=build_legacy_assets())
