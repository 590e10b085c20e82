"""What the tests ask the running webserver, in the GraphQL the Dagster UI itself sends.

The backfill mutation is the UI's `LaunchPartitionBackfill` (ui-core/src/instance/backfill/BackfillUtils.tsx): an
asset backfill is `assetSelection` + `partitionNames` (or `allPartitions`), exactly what the "Materialize" dialog of
a partitioned asset submits. Runs are launched with `launchPipelineExecution` and a job selector (the Launchpad).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from face_assets_tests.e2e.servers import LOCATION, REPOSITORY, Servers, ServersError, wait_for

PYTHON_ERROR = "fragment PythonErrorFragment on PythonError { message stack errorChain { error { message } } }"

LAUNCH_PARTITION_BACKFILL = (
    """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId launchedRunIds }
    ... on PartitionSetNotFoundError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on UnauthorizedError { message }
    ... on PipelineNotFoundError { message }
    ... on RunConflict { message }
    ... on ConflictingExecutionParamsError { message }
    ... on PresetNotFoundError { message }
    ... on RunConfigValidationInvalid { pipelineName errors { message path reason } }
    ...PythonErrorFragment
  }
}
"""
    + PYTHON_ERROR
)

BACKFILL_STATUS = (
    """
query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions isAssetBackfill
      assetSelection { path }
      error { message }
      runs { id status }
    }
    ...PythonErrorFragment
    ... on BackfillNotFoundError { message }
  }
}
"""
    + PYTHON_ERROR
)

LAUNCH_RUN = (
    """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id runId status } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { pipelineName errors { message path reason } }
    ... on RunConflict { message }
    ... on UnauthorizedError { message }
    ... on PresetNotFoundError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ...PythonErrorFragment
  }
}
"""
    + PYTHON_ERROR
)

REEXECUTE = (
    """
mutation LaunchPipelineReexecution($reexecutionParams: ReexecutionParams) {
  launchPipelineReexecution(reexecutionParams: $reexecutionParams) {
    __typename
    ... on LaunchRunSuccess { run { id runId status rootRunId parentRunId } }
    ... on PipelineNotFoundError { message }
    ... on RunConflict { message }
    ... on UnauthorizedError { message }
    ...PythonErrorFragment
  }
}
"""
    + PYTHON_ERROR
)

RUNS = (
    """
query Runs($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results { id runId status jobName tags { key value } startTime endTime } }
    ...PythonErrorFragment
  }
}
"""
    + PYTHON_ERROR
)

RUN = (
    """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { id status jobName tags { key value } stepKeysToExecute
      stepStats { stepKey status attempts { startTime } } }
    ...PythonErrorFragment
  }
}
"""
    + PYTHON_ERROR
)

RUN_EVENTS = (
    """
query RunEvents($runId: ID!, $after: String) {
  logsForRun(runId: $runId, afterCursor: $after, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events { __typename ... on MessageEvent { message stepKey level timestamp } }
    }
    ...PythonErrorFragment
  }
}
"""
    + PYTHON_ERROR
)

ASSET_NODES = """
query AssetNodes {
  assetNodes {
    assetKey { path }
    groupName
    isPartitioned
    jobNames
    partitionDefinition { type name dimensionTypes { dynamicPartitionsDefinitionName } }
    partitionKeysByDimension { partitionKeys }
  }
}
"""

FINISHED_RUN = {"SUCCESS", "FAILURE", "CANCELED"}
FINISHED_BACKFILL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def _check(result: dict, ok_type: str, what: str) -> dict:
    if result["__typename"] != ok_type:
        raise ServersError(f"{what}: {result}")
    return result


def asset_nodes(servers: Servers) -> list[dict]:
    return servers.graphql(ASSET_NODES)["assetNodes"]


def video_assets(servers: Servers) -> list[dict]:
    """The assets partitioned by the dynamic `videos` partitions."""
    return [
        node
        for node in asset_nodes(servers)
        if node["isPartitioned"]
        and any(d["dynamicPartitionsDefinitionName"] == "videos" for d in node["partitionDefinition"]["dimensionTypes"])
    ]


# Video assets that run only during a change of model (`face-assets reembed`; outside one they fail, saying so):
# not part of processing a video.
NOT_PROCESSING_GROUPS = frozenset({"model_change"})


def processing_asset_keys(servers: Servers) -> list[str]:
    """The names of the video assets that processing a video materializes (what a backfill of the videos selects)."""
    return sorted(
        node["assetKey"]["path"][-1] for node in video_assets(servers) if node["groupName"] not in NOT_PROCESSING_GROUPS
    )


def video_partition_keys(servers: Servers) -> list[str]:
    nodes = video_assets(servers)
    if not nodes:
        raise ServersError("no asset is partitioned by `videos` in the code location")
    return list(nodes[0]["partitionKeysByDimension"][0]["partitionKeys"])


def launch_backfill(
    servers: Servers,
    asset_keys: Iterable[str],
    partition_names: list[str] | None = None,
    all_partitions: bool = False,
    title: str | None = None,
) -> str:
    params: dict = {"assetSelection": [{"path": [k]} for k in asset_keys], "fromFailure": False, "tags": []}
    if all_partitions:
        params["allPartitions"] = True
    else:
        params["partitionNames"] = partition_names
    if title:
        params["title"] = title
    result = servers.graphql(LAUNCH_PARTITION_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
    return _check(result, "LaunchBackfillSuccess", "launchPartitionBackfill")["backfillId"]


def backfill(servers: Servers, backfill_id: str) -> dict:
    result = servers.graphql(BACKFILL_STATUS, {"backfillId": backfill_id})["partitionBackfillOrError"]
    return _check(result, "PartitionBackfill", f"backfill {backfill_id}")


def wait_backfill(servers: Servers, backfill_id: str, timeout: float) -> dict:
    """Until the backfill is finished and none of its runs is still going; the backfill."""

    def done():
        servers.check_alive()
        value = backfill(servers, backfill_id)
        if value["status"] in FINISHED_BACKFILL and all(r["status"] in FINISHED_RUN for r in value["runs"]):
            return value
        return None

    return wait_for(
        done, timeout, f"backfill {backfill_id}", interval=2, on_timeout=lambda: str(backfill(servers, backfill_id))
    )


def launch_run(
    servers: Servers,
    job_name: str,
    tags: dict | None = None,
    run_config: dict | None = None,
    asset_selection: list[str] | None = None,
) -> str:
    params: dict = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "pipelineName": job_name},
        "runConfigData": run_config or {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    if asset_selection:
        params["selector"]["assetSelection"] = [{"path": [k]} for k in asset_selection]
    result = servers.graphql(LAUNCH_RUN, {"executionParams": params})["launchPipelineExecution"]
    return _check(result, "LaunchRunSuccess", f"launchPipelineExecution {job_name}")["run"]["runId"]


def reexecute_from_failure(servers: Servers, run_id: str) -> str:
    params = {"parentRunId": run_id, "strategy": "FROM_FAILURE"}
    result = servers.graphql(REEXECUTE, {"reexecutionParams": params})["launchPipelineReexecution"]
    return _check(result, "LaunchRunSuccess", f"re-execution of {run_id}")["run"]["runId"]


def run(servers: Servers, run_id: str) -> dict:
    return _check(servers.graphql(RUN, {"runId": run_id})["runOrError"], "Run", f"run {run_id}")


def runs(
    servers: Servers,
    job_name: str | None = None,
    tags: dict | None = None,
    statuses: list[str] | None = None,
    limit: int = 200,
) -> list[dict]:
    flt: dict = {}
    if job_name:
        flt["pipelineName"] = job_name
    if tags:
        flt["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    if statuses:
        flt["statuses"] = statuses
    result = servers.graphql(RUNS, {"filter": flt, "limit": limit})["runsOrError"]
    return _check(result, "Runs", "runsOrError")["results"]


def run_messages(servers: Servers, run_id: str) -> list[dict]:
    events, cursor = [], None
    while True:
        page = servers.graphql(RUN_EVENTS, {"runId": run_id, "after": cursor})["logsForRun"]
        page = _check(page, "EventConnection", f"logs of run {run_id}")
        events.extend(page["events"])
        cursor = page["cursor"]
        if not page["hasMore"]:
            return events


def wait_run(servers: Servers, run_id: str, timeout: float) -> dict:
    def done():
        servers.check_alive()
        value = run(servers, run_id)
        return value if value["status"] in FINISHED_RUN else None

    return wait_for(done, timeout, f"run {run_id}", interval=2, on_timeout=lambda: str(run(servers, run_id)))


def failure_messages(servers: Servers, run_id: str, limit: int = 8) -> str:
    """The error-level messages of a run, for assertion messages."""
    messages = [e["message"] for e in run_messages(servers, run_id) if e.get("level") in ("ERROR", "CRITICAL")]
    return "\n".join(m[:1500] for m in messages[-limit:])


def elapsed(start: float) -> str:
    return f"{time.monotonic() - start:.0f} s"


MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset { assetMaterializations(limit: 50) { runId timestamp } }
  }
}
"""


def materializations(servers: Servers, asset_key: str) -> list[dict]:
    """The asset's latest materializations (runId, timestamp in ms), newest first; none when never materialized."""
    result = servers.graphql(MATERIALIZATIONS, {"key": {"path": [asset_key]}})["assetOrError"]
    return result.get("assetMaterializations") or [] if result["__typename"] == "Asset" else []
