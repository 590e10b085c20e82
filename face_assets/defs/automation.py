"""Declarative automation: the assets downstream of the videos (clusters, statistics) refresh by themselves.

`refresh_after_new_matches()` requests an asset when all of these hold:
  - something it reads changed since it was last requested (a video's matches, new clusters);
  - a tick of FACE_ASSETS_AUTOMATION_CRON [*/10 * * * *] passed since it was last requested: at most one refresh per
    cron window, however many videos arrive (re-clustering after each of 1,000 new videos would cost more than the
    videos themselves);
  - no run is writing what it reads (a backfill or a stream of sensor runs in progress): it waits for the stream to
    settle instead of clustering half a batch;
  - it is not already running.
Both flags are "since last handled": they stay set until the asset is requested, so a tick that passes while videos
are still being processed is not lost, and the refresh happens as soon as the stream settles.

`automation_sensor` evaluates the conditions (running by default, unlike Dagster's own default sensor).
"""

from dagster import AssetSelection, AutomationCondition, AutomationConditionSensorDefinition, DefaultSensorStatus

from face_assets import settings

AUTOMATION_SENSOR_NAME = "face_assets_automation"
AUTOMATION_INTERVAL_SECONDS = 30


def refresh_after_new_matches() -> AutomationCondition:
    cron = settings.automation_cron()
    tick = AutomationCondition.cron_tick_passed(cron, settings.rematch_timezone())
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
        & tick.since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label(f"new matches, at most once per '{cron}', after running videos finish")


def appearances_after_matches() -> AutomationCondition:
    """face_appearances (partitioned by video): a video's appearances follow its matches, and a video whose
    appearances were never computed (a database from before timelines) gets them, once its matches exist; at most
    once per cron window and partition, never while its matches are being written. A partition whose last run
    failed is not asked again until its matches change."""
    cron = settings.automation_cron()
    tick = AutomationCondition.cron_tick_passed(cron, settings.rematch_timezone())
    never = AutomationCondition.missing() & ~AutomationCondition.execution_failed()
    return (
        (AutomationCondition.any_deps_updated().since_last_handled() | never)
        & tick.since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label(f"new matches or none yet, at most once per '{cron}', after running videos finish")


automation_sensor = AutomationConditionSensorDefinition(
    AUTOMATION_SENSOR_NAME,
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=AUTOMATION_INTERVAL_SECONDS,
    description=(
        "Evaluates the assets' automation conditions (face_clusters, face_recognition_stats, face_appearances)."
    ),
)
