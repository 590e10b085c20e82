"""`database_backup_job`: one op, `dump_database`, dumping the application database with `pg_dump -Fc` into
FACE_ASSETS_BACKUP_DIR and keeping the newest FACE_ASSETS_BACKUP_KEEP (face_assets.db.backup.backup). Its output
metadata, on the run's page in the Dagster UI, says what was written: file, size, seconds, tables, rows, schema
version, and which old backups were removed.

Why an op job and not an asset: a backup is an operation on the whole database, not data the other assets depend
on. As an asset it would sit in the lineage beside the tables it copies, and `face-assets run` (every asset) would
write a dump each time it runs.
"""

from __future__ import annotations

from dagster import MetadataValue, OpExecutionContext, Output, job, op

from face_assets.db.backup import BackupResult, backup
from face_assets.db.retries import DATABASE_RETRY, transient_only
from face_assets.defs.resources import PostgresResource


def backup_metadata(result: BackupResult) -> dict:
    summary = result.as_metadata()
    rows = "\n".join(f"| {name} | {count:,} |" for name, count in result.contents.tables.items())
    return {
        "file": MetadataValue.path(summary["file"]),
        "size": MetadataValue.text(summary["size"]),
        "size_bytes": MetadataValue.int(summary["size_bytes"]),
        "seconds": MetadataValue.float(summary["seconds"]),
        "tables": MetadataValue.int(summary["tables"]),
        "rows": MetadataValue.int(summary["rows"]),
        "schema_version": (
            MetadataValue.null() if summary["schema_version"] is None else MetadataValue.int(summary["schema_version"])
        ),
        "kept": MetadataValue.int(summary["kept"]),
        "removed": MetadataValue.json(summary["removed"]),
        "rows_per_table": MetadataValue.md(f"| table | rows |\n| --- | ---: |\n{rows}\n"),
    }


@op(
    retry_policy=DATABASE_RETRY,
    description="Dump the application database (pg_dump -Fc) into FACE_ASSETS_BACKUP_DIR and keep the newest "
    "FACE_ASSETS_BACKUP_KEEP backups.",
)
@transient_only()
def dump_database(context: OpExecutionContext, database: PostgresResource) -> Output[dict]:
    result = backup(database.resolved_url(), log=context.log.info)
    context.log.info(result.describe())
    return Output(result.as_metadata(), metadata=backup_metadata(result))


@job(description="Back up the application database (see the database_backup schedule and `face-assets db restore`).")
def database_backup_job():
    dump_database()
