"""`database_backup`: runs `database_backup_job` at FACE_ASSETS_BACKUP_CRON [`0 2 * * *`] (in
FACE_ASSETS_REMATCH_TIMEZONE [UTC]), on by default: a new install is backed up every night without anyone turning
it on (Immich's database backup job does the same)."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from face_assets import settings
from face_assets.defs.database.jobs import database_backup_job


def backup_cron() -> str:
    return settings.backup_cron()


database_backup = ScheduleDefinition(
    name="database_backup",
    job=database_backup_job,
    cron_schedule=backup_cron(),
    execution_timezone=settings.rematch_timezone(),
    default_status=DefaultScheduleStatus.RUNNING,
    description="Nightly: dump the application database into FACE_ASSETS_BACKUP_DIR, keeping the newest "
    "FACE_ASSETS_BACKUP_KEEP.",
)
