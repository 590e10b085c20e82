"""Stage `sensor_throughput`: new files picked up by the real daemon vs `face-assets run` on the same files
(issues 13 and 21).

OURS: dagster-daemon (and the webserver, as the e2e tests start them: face_assets_tests/e2e/servers.py) on a
throwaway instance, fresh for every repetition; N short video files are dropped into the watched library root at
once; the time from the drop (the last file in place) until every one of them has a 'processed' scan and the last of
the sensor's runs has finished (its end time in Dagster's run storage). It includes the sensor's stability rule, the
tick, run queueing and launching, each run's process start, code location load and model load.
BASELINE: `face-assets run --select <the process_videos job's assets> --scan` on a copy of the same N files, in a
new process on its own instance and database, fresh for every repetition (migration and face schema done before,
untimed): the library scan, then the video phases in runs of up to 50 partitions (its own batch size), in process.

Rows: `sensor_throughput` (50 files) and `sensor_throughput.500` (a drop of 500), each with MIN_REPETITIONS
repetitions of ours and of the baseline, interleaved. Both servers get the same PostgreSQL settings (no flush per
commit, face_assets_tests/e2e/servers.tune_throwaway_server). The daemon's automation (clusters, statistics,
appearances) gets a yearly cron during a measurement: the baseline does not compute them either.

Files: short clips cut from the fixture library's videos (3 s each, numbered in a corner so every file's content
differs), generated once into benchmarks/.data/sensor_clips-v1/. A drop copies them (with their modification time:
finished files) into a folder beside the root and renames them in, all at once, like a finished download moved into
the library. Every file must be processed exactly once: one video, one 'processed' scan, one materialization of each
video asset per partition, one sensor run per partition; anything else fails the stage.

The daemon path's wall time is broken down from Dagster's own records (sensor ticks, run records, run events): see
`breakdown` and RESULTS.md. ratio = baseline / ours: >= 0.8 means new files go at least at 0.8x the videos per hour
of `face-assets run`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    DATA_DIR,
    FIXTURES,
    MIN_REPETITIONS,
    MODEL_NAME,
    REPO,
    Seconds,
    StageResult,
    load_average,
    median,
    model_root,
    require_fixtures,
    say,
)

STAGE = "sensor_throughput"
LARGE = f"{STAGE}.500"
FULL = {
    "rows": {STAGE: 50, LARGE: int(os.environ.get("BENCH_SENSOR_LARGE_FILES", 500))},
    "repetitions": int(os.environ.get("BENCH_SENSOR_REPETITIONS", MIN_REPETITIONS)),
}
# The smoke test: one row, one repetition (each repetition starts a daemon, a webserver and two databases).
QUICK = {"rows": {STAGE: 2}, "repetitions": 1}
TARGETS = {STAGE: 0.8, LARGE: 0.95}
CLIP_SECONDS = 3.0
CLIPS_DIR = DATA_DIR / "sensor_clips-v1"
AUTOMATION_CRON_OFF = "0 0 1 1 *"  # no refresh of the downstream assets during a measurement
SENSOR_INTERVAL_SECONDS = 5  # face_assets_tests/e2e/servers.SENSOR_INTERVAL_SECONDS
# The figure is the last run's end time from Dagster's run storage, not the moment a poll sees it: the poll only
# has to cost the measured machine little (the baseline is not polled at all). It reads the run records (one
# query on a kept connection), and the app database (a new connection) only once every run has finished.
POLL_SECONDS = 2.0
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def timeout_for(files: int) -> float:
    return 600 + 10 * files


# --- the files ------------------------------------------------------------------------------------------------


def source_videos() -> list[Path]:
    videos = sorted(p for p in (FIXTURES / "library" / "videos").glob("*.mp4"))
    return [p for p in videos if p.stat().st_size > 0]


def clip_path(index: int) -> Path:
    return CLIPS_DIR / f"clip_{index:04d}.mp4"


def make_clip(index: int, sources: list[Path]) -> None:
    """Clip `index`: CLIP_SECONDS of source index % n, from an offset that moves with index // n, numbered."""
    import cv2

    src = sources[index % len(sources)]
    cap = cv2.VideoCapture(str(src), cv2.CAP_FFMPEG)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        length = max(1, min(total, round(CLIP_SECONDS * fps)))
        start = (index // len(sources)) * 37 % max(1, total - length + 1)
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        tmp = CLIPS_DIR / f".tmp_{index:04d}.mp4"
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        written = 0
        for _ in range(length):
            ok, frame = cap.read()
            if not ok:
                break
            cv2.putText(frame, str(index), (6, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
            writer.write(frame)
            written += 1
        writer.release()
    finally:
        cap.release()
    if written == 0:
        raise RuntimeError(f"no frame read from {src}")
    tmp.rename(clip_path(index))


def clips(count: int) -> list[Path]:
    """The first `count` clips, made on first use (cached in benchmarks/.data/sensor_clips-v1/)."""
    CLIPS_DIR.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not clip_path(i).exists()]
    if missing:
        say(f"[{STAGE}] generating {len(missing)} clips of {CLIP_SECONDS:g} s (once; cached in {CLIPS_DIR}) ...")
        started = time.perf_counter()
        sources = source_videos()
        for i in missing:
            make_clip(i, sources)
        say(f"[{STAGE}] generated in {time.perf_counter() - started:.1f} s")
    return [clip_path(i) for i in range(count)]


def drop(files: list[Path], root: Path) -> tuple[list[Path], float]:
    """Copy `files` (with their modification times) into a folder beside `root`, then rename them all in: the
    drop is one instant. The paths in the root and that instant (epoch seconds, after the last rename)."""
    staging = root.parent / f".{root.name}-staging"
    staging.mkdir(exist_ok=True)
    for i, src in enumerate(files):
        shutil.copy2(src, staging / f"drop_{i:04d}.mp4")
    moved = []
    for path in sorted(staging.iterdir()):
        target = root / path.name
        path.rename(target)
        moved.append(target)
    dropped_at = time.time()
    staging.rmdir()
    return moved, dropped_at


# --- ours: the daemon -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def dagster_instance(servers) -> Iterator[Any]:
    """A DagsterInstance on the servers' storage, in this process (read-only use: runs, events, ticks)."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    key = "FACE_ASSETS_DAGSTER_DATABASE_URL"  # dagster.yaml reads the storage URL from it (set while in use)
    saved = os.environ.get(key)
    os.environ[key] = servers.env[key]
    try:
        with DagsterInstance.from_ref(InstanceRef.from_dir(str(servers.dagster_home))) as instance:
            yield instance
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved


def sensor_run_records(instance) -> list[Any]:
    from dagster import RunsFilter

    return list(instance.get_run_records(filters=RunsFilter(tags={"dagster/sensor_name": "library_sensor"})))


def processed_count(servers, paths: list[str]) -> int:
    return servers.app(
        "SELECT count(*) FROM video_face_scans s JOIN videos v ON v.id = s.video_id"
        " WHERE v.file_path = ANY(%s) AND s.status = 'processed'",
        (paths,),
    )[0][0]


def wait_until_done(servers, instance, paths: list[str], dropped_at: float) -> list[Any]:
    """Until every dropped file has a 'processed' scan and every sensor run has finished; the run records."""
    deadline = time.monotonic() + timeout_for(len(paths))
    while True:
        servers.check_alive()
        records = sensor_run_records(instance)
        failed = [r.dagster_run.run_id for r in records if r.dagster_run.status.value in ("FAILURE", "CANCELED")]
        if failed:
            raise RuntimeError(f"sensor runs failed: {failed}\n{servers.log_tail('daemon')}")
        if all(r.dagster_run.status.value in FINISHED for r in records) and processed_count(servers, paths) >= len(
            paths
        ):
            return records
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the daemon did not process {len(paths)} files in {timeout_for(len(paths)):.0f} s "
                f"({processed_count(servers, paths)} done, runs {[r.dagster_run.status.value for r in records]})"
            )
        time.sleep(POLL_SECONDS)


def ours(files: list[Path]) -> tuple[Seconds, dict[str, Any]]:
    from face_assets_tests.e2e.servers import start_servers, stop_servers

    servers = start_servers(extra_env={"FACE_ASSETS_AUTOMATION_CRON": AUTOMATION_CRON_OFF})
    try:
        with dagster_instance(servers) as instance:
            load = load_average()
            paths, dropped_at = drop(files, servers.library)
            names = [str(p) for p in paths]
            records = wait_until_done(servers, instance, names, dropped_at)
            last_end = max(r.end_time for r in records)
            seconds = last_end - dropped_at
            video_ids = dict(servers.app("SELECT file_path, id FROM videos WHERE file_path = ANY(%s)", (names,)))
            runs = [run_timeline(instance, r) for r in records]
            check_exactly_once(servers, names, video_ids, runs)
            info = breakdown(sensor_ticks(instance, dropped_at), runs, dropped_at, last_end)
            info["runs"] = len(runs)
            info["run_moments"] = [relative_moments(r, dropped_at) for r in runs]
            return Seconds(seconds, load), info
    finally:
        stop_servers(servers)


# --- where the daemon's time goes --------------------------------------------------------------------------------


def sensor_ticks(instance, dropped_at: float) -> list[Any]:
    """The library sensor's ticks that ended after the drop, oldest first."""
    from dagster._core.scheduler.instigation import InstigatorType

    states = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == "library_sensor"
    ]
    ticks = []
    for state in states:
        ticks += instance.get_ticks(state.instigator_origin_id, state.selector_id, after=dropped_at - 120)
    return sorted(
        (t for t in ticks if (t.end_timestamp or t.timestamp) > dropped_at and t.status.value != "STARTED"),
        key=lambda t: t.timestamp,
    )


def run_timeline(instance, record) -> dict[str, Any]:
    """One run's moments (epoch seconds) from its record and events, its steps, and what it materialized."""
    run = record.dagster_run
    moments: dict[str, float] = {"created": record.create_timestamp.timestamp(), "end": record.end_time}
    steps: dict[str, dict[str, float]] = {}
    materialized: list[tuple[str, str]] = []
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None:  # a log message: the last one of a step ends its own work
            if entry.step_key:
                step = steps.setdefault(entry.step_key, {})
                step["last_log"] = entry.timestamp
                if "Loaded face models" in (entry.user_message or ""):
                    step.setdefault("model_loaded", entry.timestamp)
            continue
        kind = event.event_type_value
        if kind in ("PIPELINE_ENQUEUED", "RUN_ENQUEUED"):
            moments.setdefault("enqueued", entry.timestamp)
        elif kind in ("PIPELINE_DEQUEUED", "RUN_DEQUEUED"):
            moments.setdefault("dequeued", entry.timestamp)
        elif kind in ("PIPELINE_STARTING", "RUN_STARTING"):
            moments.setdefault("starting", entry.timestamp)
        elif kind == "ENGINE_EVENT" and (event.message or "").startswith("Started process for run"):
            moments.setdefault("process", entry.timestamp)
        elif kind in ("PIPELINE_START", "RUN_START"):
            moments.setdefault("run_start", entry.timestamp)
        elif kind == "STEP_START":
            steps.setdefault(event.step_key, {})["start"] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            steps.setdefault(event.step_key, {})["end"] = entry.timestamp
        elif kind == "ASSET_MATERIALIZATION":
            materialized.append((event.asset_key.to_user_string(), event.partition))
            if event.step_key:
                steps.setdefault(event.step_key, {})["materializes"] = 1.0
    return {
        "run_id": run.run_id,
        "status": run.status.value,
        "moments": moments,
        "steps": {k: v for k, v in steps.items() if "start" in v and "end" in v},
        "materialized": materialized,
    }


def relative_moments(run: dict[str, Any], dropped_at: float) -> dict[str, Any]:
    """A run's moments and step starts/ends as seconds after the drop (RESULTS.md's metrics keep them)."""
    out = {k: round(v - dropped_at, 2) for k, v in run["moments"].items() if v}
    for key, step in run["steps"].items():
        out[key] = [round(step[k] - dropped_at, 2) for k in ("start", "model_loaded", "last_log", "end") if k in step]
    return out


# The phases of the breakdown, in the order of the issue: name -> what it covers.
PHASES = {
    "stability": "waiting for the files to count as stable (a second scan), from the first tick that saw them",
    "sensor_tick": "the sensor: from the drop to its next tick, plus the registering tick up to the first run's "
    "creation (scan, probe, hash, partitions, run requests)",
    "run_submit": "run created by the sensor daemon -> RUN_ENQUEUED (its submission), summed over runs",
    "run_queue": "RUN_ENQUEUED -> launched by the run queue (QueuedRunCoordinator: RUN_STARTING), summed over runs",
    "launch": "RUN_STARTING -> the run worker process up (spawned by the code server: Python, dagster, the instance)",
    "code_location": "process up -> RUN_START (importing face_assets.definitions, building the job and the plan)",
    "model_load": "face_detections' start -> 'Loaded face models' (ONNX sessions)",
    "pool_wait": "a step waiting after the one before it (the `gpu` pool slot, step launch), summed over runs",
    "processing": "the steps' own work up to their last log line (decode, detect, match, the rows they write)",
    "writing": "a step's last log line -> its end, and the last step -> the run's end (Dagster's events: one "
    "materialization per partition, outputs, the run's end)",
    "checks": "the asset checks' own steps (the non-blocking checks on what the run wrote)",
}


def breakdown(ticks: list[Any], runs: list[dict[str, Any]], dropped_at: float, last_end: float) -> dict[str, Any]:
    """Seconds per phase (PHASES), summed over the runs where runs overlap, and the path to the first run's start."""
    out: dict[str, Any] = {}
    registering = [t for t in ticks if t.run_ids]
    first = ticks[0] if ticks else None
    if first and registering:
        out["ticks_after_drop"] = len(ticks)
        out["registering_ticks"] = len(registering)
        out["stability"] = max(0.0, registering[0].timestamp - first.timestamp)
        created = min((r["moments"]["created"] for r in runs), default=registering[0].timestamp)
        out["sensor_tick"] = max(0.0, first.timestamp - dropped_at) + (created - registering[0].timestamp)
        out["first_registering_tick_s"] = (registering[0].end_timestamp or 0) - registering[0].timestamp
    sums = dict.fromkeys(("run_submit", "run_queue", "launch", "code_location"), 0.0)
    for run in runs:
        m = run["moments"]
        enqueued = m.get("enqueued") or m["created"]
        launched = m.get("dequeued") or m.get("starting") or enqueued
        process = m.get("process") or m.get("run_start") or launched
        sums["run_submit"] += enqueued - m["created"]
        sums["run_queue"] += launched - enqueued
        sums["launch"] += process - launched
        sums["code_location"] += (m.get("run_start") or process) - process
    sums.update(step_phases(runs))
    out.update({k: round(v, 2) for k, v in sums.items()})
    if runs:
        starts = [r["moments"].get("run_start") or r["moments"]["created"] for r in runs]
        created = min(r["moments"]["created"] for r in runs)
        out["drop_to_first_run_created"] = round(created - dropped_at, 2)
        out["drop_to_first_run_start"] = round(min(starts) - dropped_at, 2)
        out["runs_span"] = round(last_end - min(starts), 2)
        busy = sum((r["moments"]["end"] or last_end) - (r["moments"].get("run_start") or last_end) for r in runs)
        out["mean_runs_in_progress"] = round(busy / max(out["runs_span"], 1e-9), 2)
    for key in ("stability", "sensor_tick", "first_registering_tick_s"):
        if key in out:
            out[key] = round(out[key], 2)
    out["wall"] = round(last_end - dropped_at, 2)
    return out


def step_phases(runs: list[dict[str, Any]]) -> dict[str, float]:
    """From RUN_START to the run's end, summed over the runs: model load, pool waits, processing, writing, checks
    (PHASES), and `step_<key>`: each step's seconds (start to end)."""
    sums = dict.fromkeys(("model_load", "pool_wait", "processing", "writing", "checks"), 0.0)
    for run in runs:
        m = run["moments"]
        previous = m.get("run_start")
        for key, step in sorted(run["steps"].items(), key=lambda kv: kv[1]["start"]):
            if previous is not None:
                sums["pool_wait"] += max(0.0, step["start"] - previous)
            previous = step["end"]
            sums[f"step_{key}"] = sums.get(f"step_{key}", 0.0) + step["end"] - step["start"]
            if "materializes" not in step:  # an asset check's step
                sums["checks"] += step["end"] - step["start"]
                continue
            work_start = step.get("model_loaded", step["start"])
            sums["model_load"] += work_start - step["start"]
            last_log = min(max(step.get("last_log", work_start), work_start), step["end"])
            sums["processing"] += last_log - work_start
            sums["writing"] += step["end"] - last_log
        if previous is not None and m.get("end"):
            sums["writing"] += max(0.0, m["end"] - previous)
    return {k: round(v, 2) for k, v in sums.items()}


def check_exactly_once(servers, names: list[str], video_ids: dict[str, int], runs: list[dict[str, Any]]) -> None:
    """Every dropped file: one video, one 'processed' scan, each video asset materialized once per partition, by one
    sensor run; raises RuntimeError naming what is off."""
    problems = []
    if sorted(video_ids) != sorted(names):
        problems.append(f"{len(video_ids)} videos for {len(names)} files")
    ids = list(video_ids.values())
    scans = dict(
        servers.app(
            "SELECT video_id, count(*) FROM video_face_scans WHERE video_id = ANY(%s) AND status = 'processed'"
            " GROUP BY 1",
            (ids,),
        )
    )
    if sorted(scans) != sorted(ids) or any(n != 1 for n in scans.values()):
        problems.append(f"processed scans: {len(scans)} videos for {len(ids)}, counts {sorted(set(scans.values()))}")
    keys = {str(i) for i in ids}
    by_asset: dict[str, dict[str, int]] = {}
    run_of: dict[str, set[str]] = {}
    for run in runs:
        for asset, partition in run["materialized"]:
            by_asset.setdefault(asset, {}).setdefault(partition, 0)
            by_asset[asset][partition] += 1
            run_of.setdefault(partition, set()).add(run["run_id"])
    for asset, counts in sorted(by_asset.items()):
        if set(counts) != keys or any(n != 1 for n in counts.values()):
            twice = sorted(p for p, n in counts.items() if n != 1)[:5]
            problems.append(f"{asset}: {len(counts)} partitions materialized for {len(keys)} files; twice: {twice}")
    if not by_asset:
        problems.append("no materialization in the sensor's runs")
    if any(len(r) != 1 for r in run_of.values()):
        problems.append("a partition was materialized by more than one run")
    if problems:
        raise RuntimeError("not every file processed exactly once: " + "; ".join(problems))


# --- the baseline: face-assets run ------------------------------------------------------------------------------


def video_selection() -> str:
    """The process_videos job's assets as a selection string for `face-assets run --select`."""
    from face_assets.definitions import defs
    from face_assets.defs.library.jobs import VIDEO_ASSETS

    keys = VIDEO_ASSETS.resolve(defs.resolve_asset_graph())
    return " or ".join(f"key:{k.to_user_string()}" for k in sorted(keys, key=lambda k: k.to_user_string()))


def baseline(files: list[Path], base: Path, selection: str) -> tuple[Seconds, dict[str, Any]]:
    import psycopg

    from face_assets_tests.e2e.servers import base_env, tune_throwaway_server

    library = base / "library"
    library.mkdir(parents=True)
    env = base_env(
        FACE_ASSETS_HOME=str(base / "home"),
        FACE_ASSETS_LEGACY_DB=str(FIXTURES / "legacy" / "video_library.db"),
        FACE_ASSETS_PATH_MAP=f"/srv/media={FIXTURES / 'library'}",
        FACE_ASSETS_LIBRARY=str(library),
        FACE_ASSETS_MODEL=MODEL_NAME,
        FACE_ASSETS_MODEL_ROOT=model_root(),
        FACE_ASSETS_ALLOW_MODEL_DOWNLOAD="0",
    )
    cli = [sys.executable, "-m", "face_assets.cli"]
    try:
        url = subprocess.run(
            [*cli, "db", "url"], cwd=REPO, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        url = url.splitlines()[-1]
        tune_throwaway_server(url)  # the same settings as the daemon's servers
        setup = "group:legacy_migration or key:face_schema or key:creator_embeddings"
        subprocess.run([*cli, "run", "--select", setup], cwd=REPO, env=env, check=True, capture_output=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE watched_directories SET is_active = false")  # only the dropped files, as in ours
        load = load_average()
        paths, _ = drop(files, library)
        started, started_at = time.perf_counter(), time.time()
        result = subprocess.run(
            [*cli, "run", "--select", selection, "--scan"], cwd=REPO, env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        ended_at = time.time()
        if result.returncode != 0:
            raise RuntimeError(f"face-assets run failed:\n{(result.stdout + result.stderr)[-3000:]}")
        timeline = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_sensor_throughput", "--timeline"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        info = baseline_breakdown(json.loads(timeline.stdout.strip().splitlines()[-1]), started_at, ended_at)
        names = [str(p) for p in paths]
        with psycopg.connect(url, autocommit=True) as conn:
            videos, processed = conn.execute(
                "SELECT count(DISTINCT v.id), count(s.video_id) FROM videos v LEFT JOIN video_face_scans s"
                " ON s.video_id = v.id AND s.status = 'processed' WHERE v.file_path = ANY(%s)",
                (names,),
            ).fetchone()
        if videos != len(names) or processed != len(names):
            raise RuntimeError(f"baseline: {videos} videos, {processed} processed scans for {len(names)} files")
        return Seconds(seconds, load), info
    finally:
        subprocess.run([*cli, "db", "stop"], cwd=REPO, env=env, capture_output=True)


def baseline_breakdown(runs: list[dict[str, Any]], started_at: float, ended_at: float) -> dict[str, Any]:
    """Where `face-assets run`'s time goes: before its first run (Python, imports, definitions, the library scan),
    its runs' steps (step_phases), between runs (each in-process run's set-up), after the last one."""
    runs = [r for r in runs if r["moments"].get("end") and r["moments"]["created"] >= started_at - 1]
    if not runs:
        return {"runs": 0}
    runs.sort(key=lambda r: r["moments"]["created"])
    spans = sum(r["moments"]["end"] - r["moments"]["created"] for r in runs)
    out: dict[str, Any] = {
        "before_first_run": round(runs[0]["moments"]["created"] - started_at, 2),
        "between_runs": round(runs[-1]["moments"]["end"] - runs[0]["moments"]["created"] - spans, 2),
        "after_last_run": round(ended_at - runs[-1]["moments"]["end"], 2),
        "runs_own": round(
            sum((r["moments"].get("run_start") or r["moments"]["created"]) - r["moments"]["created"] for r in runs), 2
        ),
        **step_phases(runs),
        "runs": len(runs),
        "wall": round(ended_at - started_at, 2),
    }
    return out


def print_instance_timeline() -> None:
    """`python -m benchmarks.bench_sensor_throughput --timeline` in a baseline's environment: its runs' moments as
    JSON (the same reading as the daemon's runs get)."""
    from dagster import DagsterInstance

    from face_assets.db import instance as prepared

    prepared.prepare()
    with DagsterInstance.get() as instance:
        runs = [run_timeline(instance, r) for r in instance.get_run_records()]
    for run in runs:
        run.pop("materialized")
    print(json.dumps(runs))


# --- the stage ---------------------------------------------------------------------------------------------------


def run(quick: bool = False) -> list[StageResult]:
    require_fixtures("library/videos", "legacy/video_library.db")
    cfg = QUICK if quick else FULL
    reps = cfg["repetitions"]
    selection = video_selection()
    results = []
    for name, files in cfg["rows"].items():
        inputs = clips(files)
        ours_s: list[Seconds] = []
        base_s: list[Seconds] = []
        infos: list[dict[str, Any]] = []
        base_infos: list[dict[str, Any]] = []
        for i in range(reps):  # interleaved; fresh servers and a fresh baseline instance every repetition
            say(f"[{name}] ours #{i + 1}: the daemon's library sensor on {files} new files")
            seconds, info = ours(inputs)
            ours_s.append(seconds)
            infos.append(info)
            say(
                f"  ours      #{i + 1}: {seconds:.1f} s (load {seconds.load_average}); "
                + ", ".join(f"{k} {info[k]}" for k in (*PHASES, "runs") if k in info)
            )
            with tempfile.TemporaryDirectory(prefix="bench_sensor_", dir="/tmp") as tmp:
                Path(tmp).chmod(0o755)  # the embedded PostgreSQL runs as its own user under root
                seconds, base_info = baseline(inputs, Path(tmp) / "baseline", selection)
            base_s.append(seconds)
            base_infos.append(base_info)
            say(f"  baseline  #{i + 1}: {seconds:.1f} s (load {seconds.load_average})")
        results.append(result_for(name, files, ours_s, base_s, infos, base_infos, selection, quick))
    return results


def medians(infos: list[dict[str, Any]]) -> dict[str, Any]:
    keys = list({k: None for i in infos for k in i if not isinstance(i[k], (list, dict))})
    return {k: median([i[k] for i in infos if k in i]) for k in keys}


def result_for(name, files, ours_s, base_s, infos, base_infos, selection, quick) -> StageResult:
    from face_assets import settings

    ours_m, base_m = median(ours_s), median(base_s)
    ratio = base_m / ours_m
    target = TARGETS[name] if name in TARGETS else TARGETS[STAGE]
    phases, base_phases = medians(infos), medians(base_infos)
    dominant = sorted(((phases.get(k) or 0, k) for k in PHASES), reverse=True)[:3]
    notes = (
        f"{files} clips of {CLIP_SECONDS:g} s dropped at once, finished files (renamed in with their modification "
        f"time); daemon: library_sensor every {SENSOR_INTERVAL_SECONDS} s, {infos[0].get('runs')} run(s) of up to "
        f"{settings.sensor_run_videos()} videos, one at a time, a new daemon + webserver + databases per repetition; automation cron yearly during the "
        f"measurement (the baseline computes no clusters either). Every file processed exactly once (checked). "
        f"Where the daemon's time goes (median of {len(infos)} repetitions, seconds; phases overlap when runs run "
        f"side by side, mean {phases.get('mean_runs_in_progress')} in progress): "
        + ", ".join(f"{k} {phases[k]}" for k in PHASES if phases.get(k) is not None)
        + f"; largest: {', '.join(k for _, k in dominant)}. Baseline: {base_phases.get('runs')} in-process runs; "
        f"before its first run (Python, imports, scan) {base_phases.get('before_first_run')} s, its steps' "
        f"processing {base_phases.get('processing')} s and writing {base_phases.get('writing')} s."
    )
    repetitions_note = ""
    if len(ours_s) < MIN_REPETITIONS:
        repetitions_note = (
            "quick run (smoke test)"
            if quick
            else f"BENCH_SENSOR_REPETITIONS={len(ours_s)}: each repetition starts a daemon, a webserver and "
            "three databases, and processes every file twice (ours and the baseline)"
        )
    return StageResult(
        name=name,
        sizes={"files": files, "clip_seconds": CLIP_SECONDS},
        ours=f"dagster-daemon: library_sensor ({SENSOR_INTERVAL_SECONDS} s interval) -> ranged process_videos runs",
        baseline=f'face-assets run --select "{selection}" --scan, same files',
        ours_median_s=ours_m,
        baseline_median_s=base_m,
        repetitions={"ours": len(ours_s), "baseline": len(base_s)},
        target=f">= {target:g}x (the daemon's videos per hour over face-assets run's, medians)",
        met=ratio >= target,
        notes=notes,
        metrics={
            "ours_videos_per_hour": round(files * 3600 / ours_m),
            "baseline_videos_per_hour": round(files * 3600 / base_m),
            "breakdown_median_s": phases,
            "breakdown_per_repetition_s": infos,
            "baseline_breakdown_median_s": base_phases,
            "baseline_breakdown_per_repetition_s": base_infos,
        },
        ours_samples_s=ours_s,
        baseline_samples_s=base_s,
        repetitions_note=repetitions_note,
        quick=quick,
    )


def details_markdown(result: dict) -> str:
    m = result.get("metrics") or {}
    per_rep = m.get("breakdown_per_repetition_s") or []
    med = m.get("breakdown_median_s") or {}
    base = m.get("baseline_breakdown_median_s") or {}
    if not per_rep:
        return ""
    lines = [
        f"Videos per hour (medians): daemon {m.get('ours_videos_per_hour')}, face-assets run "
        f"{m.get('baseline_videos_per_hour')}.",
        "",
        "Where the daemon's wall time goes, from the last file in place to the last run finished (Dagster's sensor "
        "ticks, run records and run events; seconds). With several runs side by side the run phases are sums over "
        "the runs and overlap. The last column reads `face-assets run`'s own runs the same way (its process start, "
        "imports and library scan are `before_first_run`).",
        "",
        "| phase | what | daemon, median | "
        + " | ".join(f"daemon rep {i + 1}" for i in range(len(per_rep)))
        + " | face-assets run, median |",
        "| --- | --- | --- | " + " | ".join("---" for _ in per_rep) + " | --- |",
    ]
    extra = {
        "drop_to_first_run_created": "from the drop to the first run's creation",
        "drop_to_first_run_start": "from the drop to the first run's RUN_START",
        "runs_span": "first RUN_START -> last run's end",
        "mean_runs_in_progress": "runs in progress on average over that span",
        "before_first_run": "face-assets run: process start, imports, definitions, library scan",
        "between_runs": "face-assets run: between its in-process runs",
        "runs": "runs",
        "wall": "the repetition's figure: drop -> last run's end (face-assets run: its process, start to exit)",
    }
    steps = {k: "seconds in this step, summed over the runs" for k in {**med, **base} if k.startswith("step_")}
    for key, what in {**PHASES, **steps, **extra}.items():
        if key not in med and key not in base:
            continue
        lines.append(
            f"| {key} | {what} | {med.get(key, '')} | "
            + " | ".join(str(r.get(key, "")) for r in per_rep)
            + f" | {base.get(key, '')} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__" and sys.argv[1:] == ["--timeline"]:
    print_instance_timeline()
