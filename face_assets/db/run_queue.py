"""Submitting a run of the `process_videos` job for one video to the Dagster instance's run queue.

The run is created from the job as the code location (workspace.yaml) serves it, with the partition tag, and handed
to `DagsterInstance.submit_run`: with the QueuedRunCoordinator of dagster.yaml it waits in the queue and the daemon
launches it, as a run the UI launched would.
"""

from __future__ import annotations

from pathlib import Path

JOB_NAME = "process_videos"
PARTITIONS = "videos"  # face_assets.defs.library.partitions.video_partitions
WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


class NotAPartition(LookupError):
    """The video is not a partition (not available, or not registered by the library sensor yet)."""


def submit_process_run(
    instance, video_id: int, *, workspace_file: Path | None = None, source: str = "face_assets.web"
) -> str:
    """Queue a `process_videos` run for partition `video_id`; its run id."""
    # Dagster has no public call for "submit a run of this job"; these are what `dagster job launch` uses.
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    key = str(int(video_id))
    if not instance.has_dynamic_partition(PARTITIONS, key):
        raise NotAPartition(
            f"video {video_id} is not a partition of '{PARTITIONS}' (not available, or not "
            "registered by the library sensor yet)"
        )
    target = WorkspaceFileTarget(paths=[str(workspace_file or WORKSPACE)])
    with WorkspaceProcessContext(instance, target) as process_context:
        workspace = process_context.create_request_context()
        name = workspace.code_location_names[0]
        error = workspace.get_code_location_error(name)
        if error is not None:
            raise RuntimeError(f"code location {name} failed to load: {error.message.strip().splitlines()[-1]}")
        location = workspace.get_code_location(name)
        repository = next(iter(location.get_repositories().values()))
        remote_job = repository.get_full_job(JOB_NAME)
        plan = location.get_execution_plan(
            remote_job, {}, step_keys_to_execute=None, known_state=None, instance=instance
        )
        tags = {**remote_job.tags, "dagster/partition": key, "face_assets/source": source}
        run = instance.create_run(
            job_name=remote_job.name,
            run_id=None,
            run_config={},
            resolved_op_selection=None,
            step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags=tags,
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=repository.asset_graph,
        )
        return instance.submit_run(run.run_id, workspace).run_id
