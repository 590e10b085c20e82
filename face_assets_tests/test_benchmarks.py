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
            loads = getattr(r, f"{key}_load_averages")  # one per repetition when recorded (issue 21)
            assert len(loads) in (0, len(samples)) and all(x is None or x >= 0 for x in loads)
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
            "ours_load_averages",
            "baseline_load_averages",
            "repetitions_note",
        ):
            assert key in data

    report = render_markdown(
        {"quick": True, "machine": {}, "stages": {stage: {"results": [r.to_json() for r in results], "error": None}}}
    )
    assert f"## {stage}" in report and "Ratio = baseline median / ours median" in report


def test_each_repetition_keeps_its_load_average_and_the_report_shows_the_spread():
    """Repeated rows (issue 21): min / median / max of both sides, the ratio of the medians, the load average
    before each repetition, and why a side has fewer than MIN_REPETITIONS repetitions."""
    from benchmarks.harness import MIN_REPETITIONS, Seconds, interleaved, median, scaled

    ours, base, _, _ = interleaved(lambda i: sum(range(1000)), lambda i: sum(range(2000)), 3, 2)
    assert all(isinstance(s, Seconds) for s in ours + base)
    extrapolated = scaled(base, 1000.0)
    assert [s.load_average for s in extrapolated] == [s.load_average for s in base]
    result = StageResult(
        name="x",
        sizes={"n": 1},
        ours="o",
        baseline="b",
        ours_median_s=median(ours),
        baseline_median_s=median(extrapolated),
        repetitions={"ours": len(ours), "baseline": len(base)},
        target="t",
        met=True,
        ours_samples_s=ours,
        baseline_samples_s=extrapolated,
        repetitions_note="the baseline takes hours",
    )
    data = json.loads(json.dumps(result.to_json()))
    assert data["ours_load_averages"] == [s.load_average for s in ours] and len(data["baseline_load_averages"]) == 2
    assert all(type(x) is float for x in result.ours_samples_s)  # plain numbers in results.json
    report = render_markdown({"quick": False, "machine": {}, "stages": {"x": {"results": [data], "error": None}}})
    assert "ratio of medians" in report and "min / median / max" in report
    assert "| 3/2 †" in report and f"fewer than {MIN_REPETITIONS} repetitions: the baseline takes hours" in report
    assert "load average (1 min) before each repetition: ours " in report


def test_the_daemon_breakdown_adds_up_to_the_wall_time_of_one_run():
    """bench_sensor_throughput's phases (issue 21) partition the time from the drop to the run's end."""
    from types import SimpleNamespace

    from benchmarks.bench_sensor_throughput import PHASES, breakdown

    ticks = [
        SimpleNamespace(timestamp=1002.0, end_timestamp=1003.0, run_ids=[]),  # saw the files
        SimpleNamespace(timestamp=1007.0, end_timestamp=1012.0, run_ids=["r"]),  # registered them
    ]
    moments = {"created": 1009.0, "enqueued": 1010.0, "starting": 1011.0, "process": 1014.0, "run_start": 1016.0}
    steps = {
        "sampled_frames": {"start": 1016.5, "last_log": 1020.0, "end": 1021.0, "materializes": 1.0},
        "face_detections": {
            "start": 1022.0,
            "model_loaded": 1023.0,
            "last_log": 1035.0,
            "end": 1036.0,
            "materializes": 1.0,
        },
        "face_detections_a_check": {"start": 1036.5, "end": 1037.0},
    }
    run = {
        "run_id": "r",
        "status": "SUCCESS",
        "materialized": [],
        "moments": {**moments, "end": 1040.0},
        "steps": steps,
    }
    out = breakdown(ticks, [run], 1000.0, 1040.0)
    assert sum(out[k] for k in PHASES) == pytest.approx(out["wall"]) == 40.0
    assert (out["stability"], out["sensor_tick"], out["run_queue"], out["launch"], out["code_location"]) == (
        5,
        4,
        1,
        3,
        2,
    )
    assert (out["model_load"], out["pool_wait"], out["processing"], out["writing"], out["checks"]) == (
        1,
        2,
        15.5,
        5,
        0.5,
    )
