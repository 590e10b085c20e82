"""Stage `sensor_throughput`: new files picked up by the real daemon vs `face-assets run` on the same files (issue 13).

OURS: dagster-daemon (and the webserver, as the e2e tests start them: face_assets_tests/e2e/servers.py) on a
throwaway instance; N video files are dropped into the watched library root at once; the time from the drop until
every one of them has a 'processed' scan and the sensor's runs have all finished. It includes the sensor's wait for
the files to hold still over two scans (FACE_ASSETS_SENSOR_INTERVAL, 5 s here), run queueing and launching, and
each run's process start and model load.
BASELINE: `face-assets run --select "key:sampled_frames or key:face_detections or key:face_matches" --scan` on a copy of the same
N files, in a new process on its own instance and database (migration and face schema done before, untimed): the
library scan, then the video phases in runs of up to 50 partitions, in process.

Files: the fixture library's videos, copied under distinct names (a drop of N files cycles through them).
ratio = baseline / ours: >= 0.8 means new files go at least at 0.8x the videos per hour of `face-assets run`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import FIXTURES, MODEL_NAME, REPO, StageResult, model_root, require_fixtures, say

STAGE = "sensor_throughput"
FULL = {"files": 50}
QUICK = {"files": 2}
TIMEOUT_S = 1800
VIDEO_SELECTION = "key:sampled_frames or key:face_detections or key:face_matches"


def source_videos() -> list[Path]:
    videos = sorted(p for p in (FIXTURES / "library" / "videos").glob("*.mp4"))
    return [p for p in videos if p.stat().st_size > 0]


def drop(files: int, root: Path) -> tuple[list[Path], float]:
    """Copy `files` videos into `root` (into a folder beside it first, then renamed in: the drop is one instant);
    the paths and the moment of the drop."""
    sources = source_videos()
    staging = root.parent / f".{root.name}-staging"
    staging.mkdir(exist_ok=True)
    for i in range(files):
        src = sources[i % len(sources)]
        shutil.copyfile(src, staging / f"drop_{i:04d}_{src.name}")
    started = time.perf_counter()
    moved = []
    for path in sorted(staging.iterdir()):
        target = root / path.name
        path.rename(target)
        moved.append(target)
    staging.rmdir()
    return moved, started


def ours(files: int) -> tuple[float, dict]:
    from face_assets_tests.e2e import dagster_api as api
    from face_assets_tests.e2e.scenario import run_partitions, sensor_runs
    from face_assets_tests.e2e.servers import start_servers, stop_servers

    servers = start_servers()
    try:
        paths, started = drop(files, servers.library)
        names = [str(p) for p in paths]

        def done() -> bool:
            servers.check_alive()
            ids = [i for (i,) in servers.app("SELECT id FROM videos WHERE file_path = ANY(%s)", (names,))]
            if len(ids) < files:
                return False
            processed = servers.app(
                "SELECT count(*) FROM video_face_scans WHERE video_id = ANY(%s) AND status = 'processed'", (ids,)
            )[0][0]
            if processed < files:
                return False
            runs = sensor_runs(servers)
            return all(r["status"] in api.FINISHED_RUN for r in runs) and {str(i) for i in ids} <= set(
                run_partitions(servers, runs)
            )

        deadline = started + TIMEOUT_S
        while not done():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the daemon did not process {files} files in {TIMEOUT_S} s")
            time.sleep(1)
        seconds = time.perf_counter() - started
        runs = sensor_runs(servers)
        return seconds, {"runs": len(runs), "statuses": sorted({r["status"] for r in runs})}
    finally:
        stop_servers(servers)


def baseline(files: int, base: Path) -> float:
    from face_assets_tests.e2e.servers import base_env

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
    setup = "group:legacy_migration or key:face_schema or key:creator_embeddings"
    subprocess.run([*cli, "run", "--select", setup], cwd=REPO, env=env, check=True, capture_output=True)
    url = subprocess.run([*cli, "db", "url"], cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout
    import psycopg

    with psycopg.connect(url.strip().splitlines()[-1], autocommit=True) as conn:
        conn.execute("UPDATE watched_directories SET is_active = false")  # only the dropped files, as in ours
    _paths, _ = drop(files, library)
    started = time.perf_counter()
    result = subprocess.run(
        [*cli, "run", "--select", VIDEO_SELECTION, "--scan"], cwd=REPO, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"face-assets run failed:\n{(result.stdout + result.stderr)[-3000:]}")
    subprocess.run([*cli, "db", "stop"], cwd=REPO, env=env, capture_output=True)
    return seconds


def run(quick: bool = False) -> list[StageResult]:
    require_fixtures("library/videos", "legacy/video_library.db")
    files = (QUICK if quick else FULL)["files"]
    with tempfile.TemporaryDirectory(prefix="bench_sensor_", dir="/tmp") as tmp:
        base = Path(tmp)
        base.chmod(0o755)  # the embedded PostgreSQL runs as its own user under root
        say(f"{STAGE}: baseline, face-assets run on {files} new files")
        base_s = baseline(files, base / "baseline")
        say(f"{STAGE}: ours, the daemon's library sensor on {files} new files")
        ours_s, info = ours(files)
    ratio = base_s / ours_s
    return [
        StageResult(
            name=STAGE,
            sizes={"files": files},
            ours="dagster-daemon: library_sensor (5 s interval, two stable scans) -> ranged process_videos runs",
            baseline=f'face-assets run --select "{VIDEO_SELECTION}" --scan, same files',
            ours_median_s=ours_s,
            baseline_median_s=base_s,
            repetitions={"ours": 1, "baseline": 1},
            target=">= 0.8x (the daemon's videos per hour over face-assets run's)",
            met=ratio >= 0.8,
            notes=f"one repetition each (a server start per repetition); sensor runs: {info['runs']}",
            metrics={
                "ours_videos_per_hour": round(files * 3600 / ours_s),
                "baseline_videos_per_hour": round(files * 3600 / base_s),
                **info,
            },
            ours_samples_s=[ours_s],
            baseline_samples_s=[base_s],
            quick=quick,
        )
    ]
