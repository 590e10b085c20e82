"""Smoke test of the benchmark harness: every stage in benchmarks/ runs at its quick (tiny) sizes and returns
well-formed results. Speed is never asserted here; the figures come from `make bench` (benchmarks/RESULTS.md)."""

from __future__ import annotations

import importlib
import json
import math

import pytest

from benchmarks.__main__ import discover
from benchmarks.harness import StageResult
from benchmarks.report import render_markdown
from face_assets_tests.conftest import require_fixtures

STAGES = discover()
# Stages that run the face model (see the `slow` marker in pyproject.toml).
MODEL_STAGES = {"detect_faces", "memory", "pipeline", "recognition", "service_load", "timeline"}
# Stages whose figure is recorded without a baseline (the whole pipeline's videos per hour).
RECORD_ONLY_STAGES = {"pipeline", "recognition"}  # recognition: its baseline rule is compared in its metrics


def test_the_stages_are_found():
    assert {
        "migrate",
        "nearest_face",
        "sample_frames",
        "detect_faces",
        "memory",
        "matching",
        "clustering",
        "pipeline",
    } <= set(STAGES)


@pytest.mark.parametrize(
    "stage", [pytest.param(s, marks=[pytest.mark.slow] if s in MODEL_STAGES else []) for s in STAGES]
)
def test_stage_quick_run_is_well_formed(stage, pg_server):
    require_fixtures()
    module = importlib.import_module(STAGES[stage])
    results = module.run(quick=True)

    assert results and all(isinstance(r, StageResult) for r in results)
    for r in results:
        assert r.name == stage or r.name.startswith(stage + ".")
        assert r.quick is True
        assert r.ours and r.baseline and r.target
        assert isinstance(r.met, bool)
        assert r.sizes
        measured = [(r.ours_median_s, r.ours_samples_s, "ours")]
        if stage in RECORD_ONLY_STAGES:  # a figure recorded with no baseline to compare with (issue 6)
            assert r.baseline_median_s is None and not r.baseline_samples_s and r.ratio is None
        else:
            measured.append((r.baseline_median_s, r.baseline_samples_s, "baseline"))
            assert r.ratio == pytest.approx(r.baseline_median_s / r.ours_median_s)
        for median_s, samples, key in measured:
            assert isinstance(median_s, float) and median_s > 0 and math.isfinite(median_s)
            assert r.repetitions[key] == len(samples) >= 1
            assert all(s > 0 for s in samples)
            assert min(samples) <= median_s <= max(samples)
        data = json.loads(json.dumps(r.to_json(), default=str))
        for key in (
            "name",
            "sizes",
            "ours_median_s",
            "baseline_median_s",
            "repetitions",
            "ratio",
            "target",
            "met",
            "notes",
        ):
            assert key in data

    report = render_markdown(
        {"quick": True, "machine": {}, "stages": {stage: {"results": [r.to_json() for r in results], "error": None}}}
    )
    assert f"## {stage}" in report and "Ratio = baseline median / ours median" in report
