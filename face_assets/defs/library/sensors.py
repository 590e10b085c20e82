"""`library_sensor`: finds new, moved, returned and vanished video files, adds their partitions, requests runs.

The sensor targets the job `process_videos` (jobs.py beside this file) by name and needs the resource `database`;
`build_library_sensor(job_name=...)` makes one for another job.

The scanning itself is face_assets.library.scanner (plain Python + SQL, with `scan_and_register`, the one-shot
version for `face-assets run`, re-exported here); this module adds the Dagster side:
partitions not yet in the instance, runs for the videos the scanner registered (up to FACE_ASSETS_SENSOR_RUN_VIDEOS a
run), a JSON cursor with the last scan's counts, and the scan's findings in the tick's log (the UI shows it) and skip
reason. dagster.yaml runs the sensor's runs one at a time (tag_concurrency_limits on dagster/sensor_name).
"""

# No `from __future__ import annotations` here: Dagster inspects the sensor's context annotation.

import hashlib
import json
from collections.abc import Iterable

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from face_assets import settings
from face_assets.db.retries import skip_while_database_unavailable
from face_assets.defs.library.partitions import video_partitions
from face_assets.defs.resources import PostgresResource
from face_assets.library.scanner import (  # noqa: F401 - scan_and_register is re-exported for the CLI
    LibraryNotReady,
    PresentVideo,
    ScanResult,
    log_scan,
    scan_and_register,
    scan_library,
)
from face_assets.recognition.model_record import ModelIdentity, ModelMismatch, check_model

VIDEO_JOB_NAME = "process_videos"
LIBRARY_SENSOR_NAME = "library_sensor"
# Probing and hashing new files stops after this long in one tick (Dagster gives a sensor tick 60 s by default);
# the files left over are registered by the next ticks.
SENSOR_PROBE_BUDGET_SECONDS = 30.0


def videos_per_run() -> int:
    """New videos per run (settings.sensor_run_videos: why 500). Backfills launched from the UI keep their own batch
    size (MAX_PARTITIONS_PER_RUN in the video assets)."""
    return settings.sensor_run_videos()


def sensor_interval_seconds() -> int:
    """The sensor's minimum interval: FACE_ASSETS_SENSOR_INTERVAL less one second.

    Dagster's sensor daemon looks at its sensors every 5 s (dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME) and ticks
    one when the time since its last tick's start is at least the minimum interval. A tick starts a moment after the
    look that ran it, so at each later look that time is a hair under a multiple of 5 s: an interval of exactly the
    setting skipped one look (5 s became 10 s, 30 s became 35 s; issue 21's breakdown measured 9.7-10.5 s from a drop
    to the registering tick in 2 of 3 repetitions at 5 s). One second less keeps the setting's period.
    """
    return max(1, settings.sensor_interval_seconds() - 1)


def new_partitions(instance: DagsterInstance, result: ScanResult) -> list[PresentVideo]:
    """Videos found on disk whose partition the instance does not have yet."""
    existing = set(instance.get_dynamic_partitions(video_partitions.name))
    return [v for v in result.present if v.partition_key not in existing]


def run_requests_for(videos: Iterable[PresentVideo]) -> list[RunRequest]:
    """Runs for the videos the scanner registered (legacy videos get a partition, not a run), many videos a run.

    A drop of many files is processed like a backfill: up to `videos_per_run()` consecutive new partitions in one run
    (a partition range), so the run loads the code and the model once for all of them, instead of once per video.
    The partitions are added in this order in the same tick (`partition_order`), so each range holds exactly the
    batch's videos. A single new file is still a run of its own, at once.

    Only videos whose partition is being added get a run, and the run key names the videos and their content, so
    neither a later tick nor the daemon (which drops a run key it has seen) launches the same work twice. A tick
    that failed after the scan committed leaves the partitions missing, so the next tick requests them again.
    """
    new = [v for v in videos if v.discovered]
    size = videos_per_run()
    requests = []
    for start in range(0, len(new), size):
        batch = new[start : start + size]
        if len(batch) == 1:
            requests.append(RunRequest(partition_key=batch[0].partition_key, run_key=batch[0].run_key))
            continue
        digest = hashlib.sha256("\n".join(v.run_key for v in batch).encode()).hexdigest()[:16]
        requests.append(
            RunRequest(
                run_key=f"videos-{batch[0].partition_key}-{batch[-1].partition_key}-{digest}",
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: batch[0].partition_key,
                    ASSET_PARTITION_RANGE_END_TAG: batch[-1].partition_key,
                    "face_assets/videos": str(len(batch)),
                },
            )
        )
    return requests


def partition_order(videos: Iterable[PresentVideo]) -> list[PresentVideo]:
    """Legacy videos first, then the new ones in the order of their run requests (contiguous ranges)."""
    videos = list(videos)
    return [v for v in videos if not v.discovered] + [v for v in videos if v.discovered]


def full_batches_while_probing(videos: list[PresentVideo], result: ScanResult) -> list[PresentVideo]:
    """`videos` without a last, partial batch of new ones while the scan left stable files to probe (`deferred`,
    its time budget spent): those videos get their partition, and their run, with the next tick's, so a big drop
    registered over several ticks still runs in full batches (each run costs a process, the code and the model).
    Registered videos without a partition are new partitions again on the next tick (`new_partitions`)."""
    if not result.deferred:
        return videos
    new = [v for v in videos if v.discovered]
    held = {v.partition_key for v in new[len(new) - len(new) % videos_per_run() :]}
    return [v for v in videos if v.partition_key not in held]


def build_library_sensor(
    job_name: str = VIDEO_JOB_NAME,
    name: str = LIBRARY_SENSOR_NAME,
    minimum_interval_seconds: int | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
) -> SensorDefinition:
    """The library sensor for `job_name` (a job over the `videos` partitions); needs the resource `database`."""

    @sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds or sensor_interval_seconds(),
        default_status=default_status,
        description=(
            "Scans the library roots (active watched_directories + FACE_ASSETS_LIBRARY): registers new video "
            "files once stable over two ticks (at once when untouched for FACE_ASSETS_SETTLE_SECONDS), marks "
            "vanished/returned/moved ones, adds the `videos` partitions "
            "and requests runs for the new videos (up to FACE_ASSETS_SENSOR_RUN_VIDEOS a run, a partition range; "
            "one run at a time). Bad files are recorded in library_files (status 'error')."
        ),
    )
    @skip_while_database_unavailable()  # an outage skips the tick, saying so; the cursor stays
    def _library_sensor(context: SensorEvaluationContext, database: PostgresResource) -> SensorResult:
        state = _read_cursor(context.cursor)
        try:
            with database.connect() as conn:
                # Runs of another model than the database's would all fail: none is requested, and the tick says why.
                check_model(conn, ModelIdentity.of())
                result = scan_library(
                    conn,
                    probe_budget_seconds=SENSOR_PROBE_BUDGET_SECONDS,
                    settled_after=settings.settle_seconds(),  # finished files need no second scan
                )
        except ModelMismatch as exc:
            context.log.warning(str(exc))
            return SensorResult(skip_reason=str(exc), cursor=context.cursor)
        except LibraryNotReady as exc:
            context.log.info(str(exc))
            return SensorResult(skip_reason=str(exc), cursor=context.cursor)
        log_scan(context.log, result)

        added = full_batches_while_probing(partition_order(new_partitions(context.instance, result)), result)
        runs = run_requests_for(added)
        summary = result.summary()
        cursor = json.dumps(
            {
                **summary,
                "scans": int(state.get("scans", 0)) + 1,
                "partitions_added": len(added),
                "runs_requested": len(runs),
            }
        )
        partition_requests = [video_partitions.build_add_request([v.partition_key for v in added])] if added else []
        skip_reason = None
        if not runs:
            skip_reason = (
                f"no new video to process ({summary['present_videos']} present, {len(added)} partition(s) added, "
                f"{summary['waiting_files']} waiting, {summary['new_errors']} new error(s), "
                f"{summary['missing_videos']} now unavailable"
                + (f", roots missing: {', '.join(summary['roots_missing'])}" if summary["roots_missing"] else "")
                + ")"
            )
        return SensorResult(
            run_requests=runs,
            skip_reason=skip_reason,
            cursor=cursor,
            dynamic_partitions_requests=partition_requests,
        )

    return _library_sensor


library_sensor = build_library_sensor()


def _read_cursor(cursor: str | None) -> dict:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
