"""Stage `pipeline`: videos per hour of the whole project on this CPU, for the fixture library (issue 6).

OURS: `face-assets run` from nothing, as `make demo` runs it (the fixture legacy database, path map and model pack;
CPU provider), in a new process with its own FACE_ASSETS_HOME and two new databases on the benchmark server (the
application's, Dagster's): migration, face schema, creator embeddings, the library scan, sampled_frames,
face_detections and face_matches for every video (runs of up to 50 partitions), then clusters and statistics.
There is no baseline: the issue asks for the figure, recorded.

Reported: the run's wall time (ours_median_s), videos per hour over the whole run (setup included: model loading,
process start, migration) and over the video phases alone (what a growing library costs per video). Phase times
come from the run's own progress lines, time-stamped as they arrive.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    FIXTURES,
    MODEL_NAME,
    REPO,
    StageResult,
    median,
    model_root,
    require_fixtures,
    say,
    scratch_database,
)

STAGE = "pipeline"
FULL = {"repetitions": 3}
QUICK = {"repetitions": 1}
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"}


def fixture_videos() -> list[Path]:
    return sorted(p for p in (FIXTURES / "library").rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)


def run_once(home: Path, app_url: str, dagster_url: str) -> dict[str, Any]:
    """One `face-assets run` from nothing: wall seconds, seconds per phase, exit status."""
    env = {
        **os.environ,
        "FACE_ASSETS_HOME": str(home),
        "DATABASE_URL": app_url,
        "FACE_ASSETS_DAGSTER_DATABASE_URL": dagster_url,
        "FACE_ASSETS_LEGACY_DB": str(FIXTURES / "legacy" / "video_library.db"),
        "FACE_ASSETS_PATH_MAP": f"/srv/media={FIXTURES / 'library'}",
        "FACE_ASSETS_MODEL": MODEL_NAME,
        "FACE_ASSETS_MODEL_ROOT": model_root(),
        "FACE_ASSETS_PROVIDERS": "CPUExecutionProvider",
        "FACE_ASSETS_ALLOW_MODEL_DOWNLOAD": "0",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "face_assets.cli", "run"]
    started = time.perf_counter()
    marks: list[tuple[float, str]] = [(0.0, "start")]
    tail: list[str] = []
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = ([*tail, line])[-20:]
            # Phase lines printed by face_assets.cli.runner: "library scan: ...", "<asset>: videos a..b (n partitions)",
            # "after the videos: ...".
            if line.startswith(("library scan:", "after the videos:")) or ": videos " in line:
                marks.append((time.perf_counter() - started, line.split(":")[0]))
        code = proc.wait()
    wall = time.perf_counter() - started
    marks.append((wall, "end"))
    phases: dict[str, float] = {}
    for (t0, name), (t1, _) in itertools.pairwise(marks):
        label = "setup (migration, face schema, creator embeddings)" if name == "start" else name
        phases[label] = round(phases.get(label, 0.0) + t1 - t0, 2)
    if code != 0:
        raise RuntimeError(f"face-assets run exited with {code}:\n" + "\n".join(tail))
    return {"wall_s": wall, "phases": phases}


def run(quick: bool = False) -> list[StageResult]:
    require_fixtures("legacy/video_library.db", "library", f"models/{MODEL_NAME}")
    cfg = QUICK if quick else FULL
    videos = len(fixture_videos())
    walls: list[float] = []
    runs: list[dict[str, Any]] = []
    for i in range(cfg["repetitions"]):
        with (
            tempfile.TemporaryDirectory(prefix="bench_pipeline_") as home,
            scratch_database("pipeline_app") as app_url,
            scratch_database("pipeline_dagster") as dagster_url,
        ):
            result = run_once(Path(home), app_url, dagster_url)
        walls.append(result["wall_s"])
        runs.append(result)
        say(f"  ours      #{i + 1}: {result['wall_s']:.1f} s  {result['phases']}")
    wall = median(walls)
    last = runs[walls.index(wall)] if wall in walls else runs[-1]
    video_keys = [k for k in last["phases"] if k in ("sampled_frames", "face_detections", "face_matches")]
    video_s = sum(last["phases"][k] for k in video_keys)
    per_hour_all = videos / wall * 3600
    per_hour_videos = videos / video_s * 3600 if video_s else None
    say(
        f"[pipeline] {videos} videos: {wall:.1f} s for the whole run ({per_hour_all:,.0f} videos/hour); video phases "
        f"{video_s:.1f} s ({per_hour_videos:,.0f} videos/hour)"
    )
    return [
        StageResult(
            name=STAGE,
            sizes={"videos": videos, "library": "fixture library (../shared/fixtures/library)", "model": MODEL_NAME},
            ours=(
                "`face-assets run` from nothing in a new process (migration, creator embeddings, library scan, "
                "sampled_frames + face_detections + face_matches per video, clusters, statistics), CPU provider"
            ),
            baseline="none (the figure is recorded, not compared)",
            ours_median_s=wall,
            baseline_median_s=None,
            repetitions={"ours": len(walls), "baseline": 0},
            target="videos per hour on this CPU for the fixture library, recorded",
            met=True,
            notes=(
                f"{per_hour_all:,.0f} videos/hour over the whole run (model loading, process start and migration "
                f"included), {per_hour_videos:,.0f} videos/hour over the video phases alone "
                f"({', '.join(video_keys)}: {video_s:.1f} s for {videos} videos). Phase seconds of the median run "
                "in the details."
            ),
            metrics={
                "videos_per_hour_whole_run": round(per_hour_all),
                "videos_per_hour_video_phases": round(per_hour_videos) if per_hour_videos else None,
                "phases_s": last["phases"],
                "wall_s": [round(w, 2) for w in walls],
            },
            ours_samples_s=walls,
            quick=quick,
        )
    ]


def details_markdown(r: dict) -> str:
    m = r.get("metrics") or {}
    lines = [
        f"- Videos per hour: {m.get('videos_per_hour_whole_run')} over the whole run, "
        f"{m.get('videos_per_hour_video_phases')} over the video phases alone.",
        f"- Wall seconds per repetition: {m.get('wall_s')}.",
        "",
        "| phase | seconds |",
        "| --- | --- |",
    ]
    for name, seconds in (m.get("phases_s") or {}).items():
        lines.append(f"| {name} | {seconds} |")
    return "\n".join(lines) + "\n"
