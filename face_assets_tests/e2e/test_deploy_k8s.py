"""deploy/: the Kubernetes setup on paper, checked by code.

The code location of deploy/k8s_definitions.py (the project's definitions + dagster_k8s.k8s_job_executor configured
from deploy/values.yaml) must load, every job must resolve with that executor and a valid executor configuration,
the GPU steps must ask for a GPU on GPU nodes, and the Helm values must hang together (no cluster needed).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VALUES = DEPLOY / "values.yaml"


@pytest.fixture(scope="module")
def k8s():
    spec = importlib.util.spec_from_file_location("face_assets_k8s_definitions", DEPLOY / "k8s_definitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def test_the_definitions_load_with_the_k8s_job_executor(k8s):
    from dagster import Definitions
    from dagster._core.execution.api import create_execution_plan

    defs = k8s.defs
    Definitions.validate_loadable(defs)
    jobs = defs.resolve_all_job_defs()
    names = {job.name for job in jobs}
    assert "process_videos" in names
    for job in jobs:
        assert job.executor_def.name == k8s.EXECUTOR_NAME, (job.name, job.executor_def.name)
        # Resolving the run config validates the executor's configuration against k8s_job_executor's schema.
        plan = create_execution_plan(job)
        assert plan.step_keys_to_execute, job.name


def test_the_executor_configuration_is_valid_for_k8s_job_executor(k8s):
    from dagster._config import process_config
    from dagster_k8s import k8s_job_executor

    result = process_config(k8s_job_executor.config_schema.config_type, k8s.executor_config())
    assert result.success, [e.message for e in result.errors]


def _gpu_steps() -> set[str]:
    """Op names of the steps in the `gpu` pool, from the project's definitions."""
    from face_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    steps = set()
    for key in graph.get_all_asset_keys():
        assets_def = graph.assets_def_for_key(key)
        if getattr(assets_def.op, "pool", None) == "gpu":
            steps.add(assets_def.op.name)
    return steps


def test_every_gpu_pool_step_gets_a_gpu_on_a_gpu_node_and_cpu_steps_do_not(k8s):
    config = k8s.executor_config()
    per_step = config["per_step_k8s_config"]
    gpu_steps = _gpu_steps()
    assert "face_detections" in gpu_steps
    assert gpu_steps <= set(per_step), f"GPU steps without a pod configuration: {gpu_steps - set(per_step)}"
    for step in gpu_steps:
        pod = per_step[step]
        assert pod["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert pod["pod_spec_config"]["node_selector"], step
        assert any(t["key"] == "nvidia.com/gpu" for t in pod["pod_spec_config"]["tolerations"])
        env = {e["name"]: e["value"] for e in pod["container_config"]["env"]}
        assert env["FACE_ASSETS_PROVIDERS"].startswith("CUDAExecutionProvider")
    assert "nvidia.com/gpu" not in str(config["step_k8s_config"])
    assert set(per_step) <= gpu_steps, "per-step GPU configuration for a step that is not in the gpu pool"


def test_the_helm_values_hang_together(values, k8s):
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    # The code location is deploy/k8s_definitions.py at the path the Dockerfile copies the repository to.
    args = deployment["dagsterApiGrpcArgs"]
    path = Path(args[args.index("--python-file") + 1])
    assert path.parts[-2:] == ("deploy", "k8s_definitions.py")
    assert re.search(rf"WORKDIR {re.escape(str(path.parent.parent))}\b", (DEPLOY / "Dockerfile").read_text())
    # The application database URL comes from the same Secret everywhere a step can run.
    secret_names = {s["name"] for s in deployment["envSecrets"]}
    assert set(k8s.executor_config()["env_secrets"]) <= secret_names
    assert {s["name"] for s in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]} <= secret_names
    # Shared PostgreSQL, no generated password, no password anywhere in the file.
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert not re.search(r"(?i)password\s*:\s*\S", VALUES.read_text())
    assert "DATABASE_URL" not in str(deployment.get("env", {}))
    # FACE_ASSETS_HOME (frames written by one step, read by the next, in other pods) is a shared volume.
    home = deployment["env"]["FACE_ASSETS_HOME"]
    assert any(m["mountPath"] == home for m in deployment["volumeMounts"])
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    # The gpu pool has a limit (one model per GPU), as in the repository's dagster.yaml.
    assert values["concurrency"]["pools"]["defaultLimit"] >= 1
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"


def test_the_readme_explains_the_setup():
    text = (DEPLOY / "README.md").read_text()
    for needed in (
        "helm upgrade --install",
        "k8s_job_executor",
        "nvidia.com/gpu",
        "face-assets-database",
        "dagster-postgresql",
        "ReadWriteMany",
    ):
        assert needed in text, needed


def test_the_review_app_runs_beside_the_release_with_probes_that_fit_the_app(values):
    from face_assets.cli.processes import STOP_SECONDS
    from face_assets.web.app import create_app
    from face_assets.web.probes import PROBE_PATHS, READY_CONNECT_TIMEOUT_S

    text = (DEPLOY / "review-app.yaml").read_text()
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(text)}
    deployment, service = docs["Deployment"], docs["Service"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (code_location,) = values["dagster-user-deployments"]["deployments"]
    image = code_location["image"]
    assert container["image"] == f"{image['repository']}:{image['tag']}", "not the code location's image"

    # `face-assets serve` on the pod's address: only with the token, which comes from a Secret.
    args = container["args"]
    assert args[:2] == ["face-assets", "serve"] and args[args.index("--host") + 1] == "0.0.0.0"
    port = int(args[args.index("--port") + 1])
    (named,) = container["ports"]
    assert named["containerPort"] == port
    env = {e["name"]: e for e in container["env"]}
    assert env["FACE_ASSETS_WEB_TOKEN"]["valueFrom"]["secretKeyRef"]["name"]
    assert {s["secretRef"]["name"] for s in container["envFrom"]} & {s["name"] for s in code_location["envSecrets"]}
    assert not re.search(r"(?i)(password|token)\s*:\s*\S", text), "a secret written into the manifest"
    # The same FACE_ASSETS_HOME claim as the code location (crops and frames the pages show).
    home = env["FACE_ASSETS_HOME"]["value"]
    assert home == code_location["env"]["FACE_ASSETS_HOME"]
    (mount,) = container["volumeMounts"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    code_claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in code_location["volumes"]}
    assert mount["mountPath"] == home and claims[mount["name"]] == code_claims["face-assets-home"]

    # Probes: paths the app serves without the token; readiness follows the database, liveness does not.
    ready, live = container["readinessProbe"], container["livenessProbe"]
    assert ready["httpGet"]["path"] == "/ready" and live["httpGet"]["path"] == "/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/live"
    assert {ready["httpGet"]["path"], live["httpGet"]["path"]} == set(PROBE_PATHS)
    for probe in (ready, live, container["startupProbe"]):
        assert probe["httpGet"]["port"] in (named["name"], port)
    assert ready["timeoutSeconds"] > READY_CONNECT_TIMEOUT_S
    routes = set(create_app(database_url="postgresql://unused/x").openapi()["paths"])
    assert set(PROBE_PATHS) <= routes
    # SIGTERM, then SIGKILL after the grace period: `face-assets serve` is gone before.
    assert pod["terminationGracePeriodSeconds"] > STOP_SECONDS

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["targetPort"] in (named["name"], port)
