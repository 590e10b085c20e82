"""Materializes a selection of assets in process: what `face-assets run` does.

The selection is split in three phases, because a run holds either unpartitioned or video-partitioned assets:
  1. unpartitioned assets that nothing partitioned feeds (migration, face schema, creator embeddings);
  2. the video-partitioned assets, over every video partition, in runs of many partitions each (the model loads
     once per run process, not once per video); before a full run the library is scanned once (the sensor's logic);
  3. unpartitioned assets downstream of the videos (clusters, statistics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import AssetKey, AssetSelection, DagsterInstance, Definitions, define_asset_job
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from face_assets.defs.faces.reembed import MODEL_CHANGE_GROUP
from face_assets.defs.library.assets import MAX_PARTITIONS_PER_RUN as PARTITIONS_PER_RUN  # the backfills' batch
from face_assets.defs.library.partitions import video_partitions

LOG_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class Plan:
    before: list[AssetKey] = field(default_factory=list)
    partitioned: list[AssetKey] = field(default_factory=list)
    after: list[AssetKey] = field(default_factory=list)


def plan(defs: Definitions, selection: str | None) -> Plan:
    graph = defs.resolve_asset_graph()
    # Everything by default, but the change of model (`face-assets reembed` runs it, when asked to).
    everything = AssetSelection.all() - AssetSelection.groups(MODEL_CHANGE_GROUP)
    chosen = (AssetSelection.from_string(selection) if selection else everything).resolve(graph)
    result = Plan()
    partitioned = {k for k in chosen if graph.get(k).partitions_def is not None}
    for key in graph.toposorted_asset_keys:
        if key not in chosen or not graph.get(key).is_materializable:
            continue
        if key in partitioned:
            result.partitioned.append(key)
        elif graph.get_ancestor_asset_keys(key) & partitioned:
            result.after.append(key)
        else:
            result.before.append(key)
    return result


def _execute(
    defs: Definitions,
    name: str,
    keys: list[AssetKey],
    tags: dict | None = None,
    instance: DagsterInstance | None = None,
) -> bool:
    job = define_asset_job(name, selection=AssetSelection.assets(*keys))
    job_def = Definitions.merge(defs, Definitions(jobs=[job])).resolve_job_def(name)
    result = job_def.execute_in_process(instance=instance, raise_on_error=False, run_config=LOG_INFO, tags=tags)
    failed_checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]
    for check in failed_checks:
        kind = "check failed" if check.blocking else "warning (non-blocking check)"
        print(f"{kind}: {check.asset_key.to_user_string()} {check.check_name}: {check.description or ''}")
    return result.success and not any(check.blocking for check in failed_checks)


def chunks(keys: list[str], size: int) -> list[list[str]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def run_pipeline(instance: DagsterInstance, selection: str | None = None, scan: bool | None = None) -> bool:
    """Run the selection (default: everything) and return whether every step and blocking check passed.

    `scan` (default: when no selection is given) registers the library's files as video partitions first.
    """
    from face_assets.definitions import build_definitions

    defs = build_definitions()
    steps = plan(defs, selection)
    ok = True
    if steps.before:
        ok = _execute(defs, "face_assets_cli_run", steps.before, instance=instance)
        if not ok:
            return False
    if steps.partitioned:
        if scan if scan is not None else selection is None:
            from face_assets.library.scanner import scan_and_register

            result = scan_and_register(instance, defs.resources["database"])
            print(f"library scan: {result.summary()}")
        keys = instance.get_dynamic_partitions(video_partitions.name)
        for batch in chunks(keys, PARTITIONS_PER_RUN):
            tags = {ASSET_PARTITION_RANGE_START_TAG: batch[0], ASSET_PARTITION_RANGE_END_TAG: batch[-1]}
            # One asset at a time: a bad video fails its own partition of that asset, and the next asset still
            # runs for the batch's other videos (it fails again only for the bad one). The command still fails.
            for key in steps.partitioned:
                print(f"{key.to_user_string()}: videos {batch[0]}..{batch[-1]} ({len(batch)} partitions)")
                ok = _execute(defs, "face_assets_cli_videos", [key], tags=tags, instance=instance) and ok
    if steps.after:
        print(f"after the videos: {', '.join(k.to_user_string() for k in steps.after)}")
        ok = _execute(defs, "face_assets_cli_after", steps.after, instance=instance) and ok
    return ok
