"""One asset per legacy table (group `legacy_migration`), built from the legacy schema itself.

Dependencies follow the foreign keys, so parents load before children. Each asset carries two blocking checks:
source rows = migrated + rejected rows, and a checksum of the key columns. The tables are one multi-asset that
can be subset: materializing some tables loads those, side by side on several connections.
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
    AssetSpec,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    definitions,
    multi_asset,
)

from face_assets import settings
from face_assets.db.retries import DATABASE_RETRY, is_transient, transient_only
from face_assets.db.sql_files import SQL_DIR
from face_assets.defs.migration.resources import LegacyDatabase
from face_assets.defs.resources import PostgresResource
from face_assets.migration.legacy_schema import LegacySchema
from face_assets.migration.parallel import TableOutcome, migrate_tables

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


def _check_specs(table: str) -> list[AssetCheckSpec]:
    key = legacy_key(table)
    return [
        AssetCheckSpec(
            "rows_reconcile", asset=key, blocking=True, description="source rows = migrated rows + rejected rows"
        ),
        AssetCheckSpec(
            "key_checksum",
            asset=key,
            blocking=True,
            description="checksum of the key columns of the kept rows matches the source",
        ),
    ]


def _materialization(outcome: TableOutcome) -> MaterializeResult:
    result, check, key = outcome.result, outcome.check, legacy_key(outcome.table)
    return MaterializeResult(
        asset_key=key,
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
                asset_key=key,
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
                asset_key=key,
                check_name="key_checksum",
                passed=check.checksums_match,
                severity=AssetCheckSeverity.ERROR,
                metadata={"source": check.source_checksum, "target": check.target_checksum},
            ),
        ],
    )


def build_legacy_assets() -> AssetsDefinition:
    """One asset per legacy table, all computed by one step that loads the selected tables side by side
    (face_assets.migration.parallel.migrate_tables: a table starts once its parents have started). One step per
    table would cost a process (or at least Dagster's step overhead) per table and load them one after another."""
    graph = table_graph()

    @multi_asset(
        name="legacy_tables",
        specs=[
            AssetSpec(
                legacy_key(table),
                group_name=GROUP,
                deps=[legacy_key(p) for p in parents],
                kinds={"postgres", "sqlite"},
                description=f"Legacy table `{table}` migrated from SQLite into PostgreSQL (rejects in migration_rejects).",
                skippable=True,
            )
            for table, parents in graph.items()
        ],
        check_specs=[spec for table in graph for spec in _check_specs(table)],
        can_subset=True,
        retry_policy=DATABASE_RETRY,
    )
    @transient_only()
    def _migrate(context: AssetExecutionContext, database: PostgresResource, legacy: LegacyDatabase):
        schema = legacy.schema()
        names = [key.path[-1] for key in context.selected_asset_keys]
        missing = sorted(set(names) - set(schema.tables))
        if missing:
            raise ValueError(f"tables {missing} are not in the legacy database {schema.path}")
        failed: dict[str, BaseException] = {}
        for outcome in migrate_tables(database.connect, schema, names, legacy.paths()):
            if outcome.error is not None:
                failed[outcome.table] = outcome.error
                context.log.error(f"{outcome.table}: {type(outcome.error).__name__}: {outcome.error}")
                continue
            r = outcome.result
            context.log.info(
                f"{outcome.table}: {r.source_rows} source rows, {r.migrated_rows} migrated, "
                f"{r.rejected_rows} rejected, {r.nulled_rows} with NULLed values"
            )
            yield _materialization(outcome)
        if failed:
            transient = [e for e in failed.values() if is_transient(e)]
            if transient:
                raise transient[0]  # a lost connection: the retry policy runs the step again (loads are upserts)
            raise Failure(
                description=f"{len(failed)} legacy table(s) failed: "
                + "; ".join(f"{t}: {e}" for t, e in sorted(failed.items())),
                metadata={"failed_tables": MetadataValue.json(sorted(failed))},
                allow_retries=False,
            )

    return _migrate


@definitions
def migration() -> Definitions:
    """The table assets, built when the code location loads (from FACE_ASSETS_LEGACY_DB's schema, else sql/legacy)."""
    return Definitions(assets=[build_legacy_assets()])
