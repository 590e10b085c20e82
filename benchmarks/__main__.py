"""Run the benchmarks: `python -m benchmarks [STAGE ...] [--quick]` (`make bench` runs them all).

Every module `benchmarks/bench_<stage>.py` exposing `run(quick: bool) -> list[StageResult]` is a stage, found by
name (nothing to register). Results go to benchmarks/results.json and benchmarks/RESULTS.md (a quick run writes
benchmarks/.data/results-quick.json and RESULTS-quick.md instead, so it never overwrites the real figures).
Running some stages only updates those stages in the existing results and keeps the others.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.report import render_markdown

# Stages run in this order; stages added later (matching, clustering, ...) run after these, by name.
PREFERRED_ORDER = [
    "migrate",
    "nearest_face",
    "sample_frames",
    "detect_faces",
    "memory",
    "matching",
    "clustering",
    "pipeline",
    "recognition",
    "timeline",
    "backup",
]


def discover() -> dict[str, str]:
    """{stage name: module name} for every benchmarks/bench_<stage>.py."""
    found = {}
    for info in pkgutil.iter_modules([str(harness.BENCH_DIR)]):
        if info.name.startswith("bench_"):
            found[info.name[len("bench_") :]] = f"benchmarks.{info.name}"
    order = {name: i for i, name in enumerate(PREFERRED_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def output_paths(quick: bool, output: str | None) -> tuple[Path, Path]:
    if output:
        folder = Path(output)
    else:
        folder = harness.DATA_DIR if quick else harness.BENCH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if quick and not output else ""
    return folder / f"results{suffix}.json", folder / f"RESULTS{suffix}.md"


def load_previous(path: Path, quick: bool) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if data.get("quick") == quick else {}


def run_stage(stage: str, module_name: str, quick: bool) -> dict[str, Any]:
    started = time.perf_counter()
    load_before = harness.load_average()
    harness.say(f"=== {stage} ({'quick' if quick else 'full'}) ===")
    try:
        module = importlib.import_module(module_name)
        results = module.run(quick=quick)
        entry = {"results": [r.to_json() for r in results], "error": None}
    except Exception as exc:  # one failing stage does not lose the others' figures
        traceback.print_exc()
        entry = {"results": [], "error": f"{exc.__class__.__name__}: {exc}"}
    entry["load_average"] = {"before": load_before, "after": harness.load_average()}
    entry["stage_seconds"] = round(time.perf_counter() - started, 1)
    entry["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for r in entry["results"]:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "n/a"
        ours, base = (f"{v:.4g} s" if v is not None else "n/a" for v in (r["ours_median_s"], r["baseline_median_s"]))
        harness.say(
            f"--- {r['name']}: ours {ours}, baseline {base}, ratio {ratio} (baseline/ours); "
            f"target {r['target']}: {'met' if r['met'] else 'NOT met'}"
        )
    return entry


def main(argv: list[str] | None = None) -> int:
    stages = discover()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stages", nargs="*", metavar="STAGE", help=f"stages to run (default: all): {', '.join(stages)}")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not figures")
    parser.add_argument("--list", action="store_true", help="list the stages and exit")
    parser.add_argument(
        "--output",
        help="folder for results.json and RESULTS.md (default: benchmarks/, or benchmarks/.data/ with --quick)",
    )
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(stages))
        return 0
    unknown = [s for s in args.stages if s not in stages]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(stages)}")
    selected = args.stages or list(stages)

    harness.configure_environment()
    json_path, md_path = output_paths(args.quick, args.output)
    errors = []
    for stage in selected:
        entry = run_stage(stage, stages[stage], args.quick)
        errors += [stage] if entry["error"] else []
        # Written after every stage, so an interrupted run keeps what it measured.
        write_results(json_path, md_path, args.quick, {stage: entry}, list(stages))
    harness.say(f"wrote {json_path} and {md_path}")
    return 1 if errors else 0


def write_results(json_path: Path, md_path: Path, quick: bool, entries: dict[str, Any], order: list[str]) -> None:
    """Merge `entries` into the results file (re-read under a lock: another run may have written other stages
    meanwhile) and rewrite the JSON and the Markdown, each atomically."""
    import fcntl

    with open(json_path.with_name(json_path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load_previous(json_path, quick)
        data.setdefault("stages", {}).update(entries)
        data.update(
            {
                "quick": quick,
                "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "ratio_meaning": harness.RATIO_MEANING,
                "machine": harness.machine_info(),
            }
        )
        rank = {name: i for i, name in enumerate(order)}
        data["stages"] = dict(sorted(data["stages"].items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
        for path, text in (
            (json_path, json.dumps(data, indent=2, default=str) + "\n"),
            (md_path, render_markdown(data)),
        ):
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
