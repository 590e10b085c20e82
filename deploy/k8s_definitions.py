"""The code location on Kubernetes: face_assets.definitions with every step in a pod of its own.

The executor is dagster_k8s.k8s_job_executor, configured from the `faceAssets.k8sJobExecutor` section of
deploy/values.yaml (the file the Helm release is installed with; the image carries it): CPU steps get
`step_k8s_config`, the steps of the `gpu` pool get a GPU, a GPU node selector and CUDA first
(`per_step_k8s_config`). Nothing else differs from running locally: same assets, jobs, sensors, schedules, resources.

The user deployment runs `dagster api grpc --python-file /opt/face_assets/deploy/k8s_definitions.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from dagster import Definitions, ExecutorDefinition
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster_k8s import k8s_job_executor
from dagster_shared.record import copy

VALUES = Path(os.environ.get("FACE_ASSETS_K8S_VALUES", Path(__file__).with_name("values.yaml")))
EXECUTOR_NAME = "face_assets_k8s"


def executor_config(values_path: Path = VALUES) -> dict[str, Any]:
    """`faceAssets.k8sJobExecutor` of the Helm values."""
    values = yaml.safe_load(Path(values_path).read_text())
    return values["faceAssets"]["k8sJobExecutor"]


def k8s_executor(values_path: Path = VALUES) -> ExecutorDefinition:
    return k8s_job_executor.configured(executor_config(values_path), name=EXECUTOR_NAME)


def build_k8s_definitions(values_path: Path = VALUES, local: Definitions | None = None) -> Definitions:
    """The project's definitions (face_assets.definitions.defs by default) with the Kubernetes executor."""
    if local is None:
        from face_assets.definitions import defs as local

    executor = k8s_executor(values_path)
    # Jobs that chose their own executor (process_videos runs in process locally, to load the model once per run)
    # take the pods too: on Kubernetes each step gets its own pod, the GPU step a GPU node.
    jobs = [
        copy(job, executor_def=executor)
        if isinstance(job, UnresolvedAssetJobDefinition) and job.executor_def is not None
        else job
        for job in local.jobs or []
    ]
    return Definitions.merge(
        Definitions(
            assets=local.assets,
            asset_checks=local.asset_checks,
            jobs=jobs,
            sensors=local.sensors,
            schedules=local.schedules,
            resources=local.resources,
        ),
        Definitions(executor=executor),
    )


defs = build_k8s_definitions()
