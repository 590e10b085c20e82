"""A snapshot of the code location: every asset (group, partitions, dependencies, automation, backfill policy),
check (blocking or not), job, sensor, schedule and resource. A change to the wiring shows up here as a diff to
review; after an intended change, regenerate with FACE_ASSETS_UPDATE_SNAPSHOTS=1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def describe(defs) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        if not node.is_materializable:
            continue
        policy = node.backfill_policy
        condition = node.automation_condition
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": getattr(node.partitions_def, "name", None) if node.partitions_def else None,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "automation": (condition.get_label() or condition.name) if condition else None,
            "backfill_policy": policy.max_partitions_per_run if policy else None,
            "pool": (node.pools and sorted(node.pools)) or None,
        }
    checks = {
        key.to_user_string(): {"blocking": graph.get(key).blocking}
        for key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string())
    }
    return {
        "assets": assets,
        "checks": checks,
        "jobs": {
            j.name: sorted(k.to_user_string() for k in defs.resolve_job_def(j.name).asset_layer.selected_asset_keys)
            for j in sorted(defs.jobs, key=lambda j: j.name)
        },
        "sensors": {
            s.name: {"status": s.default_status.value, "interval": s.minimum_interval_seconds}
            for s in sorted(defs.sensors, key=lambda s: s.name)
        },
        "schedules": {s.name: {"cron": s.cron_schedule, "job": s.job_name} for s in defs.schedules},
        "resources": sorted(defs.resources),
    }


def test_definitions_match_the_snapshot(monkeypatch):
    for var in (
        "FACE_ASSETS_LEGACY_DB",
        "FACE_ASSETS_REMATCH_CRON",
        "FACE_ASSETS_AUTOMATION_CRON",
        "FACE_ASSETS_SENSOR_INTERVAL",
        "FACE_ASSETS_BACKUP_CRON",
    ):
        monkeypatch.delenv(var, raising=False)  # the defaults, and the legacy graph from sql/legacy
    from face_assets.definitions import build_definitions

    current = describe(build_definitions())
    if os.environ.get("FACE_ASSETS_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"snapshot written to {SNAPSHOT}")
    assert SNAPSHOT.exists(), f"no snapshot yet: run with FACE_ASSETS_UPDATE_SNAPSHOTS=1 to write {SNAPSHOT}"
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_domain_keeps_its_wiring_in_defs():
    """The layout newcomers rely on: each domain's Dagster objects live under face_assets/defs/<domain>/."""
    from face_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    modules = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            fn = node.assets_def.op.compute_fn.decorated_fn
            modules[key.to_user_string()] = fn.__module__
    assert modules["legacy/videos"] == "face_assets.defs.migration.assets"
    assert modules["sampled_frames"] == "face_assets.defs.library.assets"
    assert modules["face_matches"] == modules["face_clusters"] == "face_assets.defs.faces.assets"
    assert modules["face_recognition_stats"] == "face_assets.defs.review.assets"
    sensors = {s.name: s for s in defs.sensors}
    assert "face_assets.defs.library" in sensors["library_sensor"]._raw_fn.__module__
