"""Stage `memory`: the memory of a detection run must not grow with the number of partitions.

A simulated `face_detections` run: per partition (one video), its 5 frames are decoded (read_frames at
sample_timestamps, cycling over the 13 readable fixture videos), FaceEngine.detect runs on them, the results are
turned into plain rows (as the asset writes them) and everything is released. Each way runs in its own fresh Python
process, so neither inherits the other's memory; the two processes take turns, 10 partitions at a time (5 in quick
mode is 1), so load from other processes falls on both alike.

After the models are loaded and one warm-up partition has run, the peak RSS (VmHWM) is reset
(/proc/self/clear_refs), so the peak measured is that of the partitions, not of loading the models. At every
checkpoint: current RSS after a garbage collection, and the peak since the reset.

OURS: FaceEngine.detect per partition (default settings, as the pipeline configures the resource).
BASELINE: FaceAnalysis.get per frame (same pack, det_size 640).
The target is on ours: peak RSS after 100 partitions at most 5% above the peak after 10.
The ratio is of the median seconds per partition (decode + detect; baseline / ours), for information.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import REPO, StageResult, median, peak_rss_mib, rss_mib, say

STAGE = "memory"
MAX_GROWTH_SHARE = 0.05
REPORTED = (10, 50, 100)

FULL = {"partitions": 100, "step": 10, "frames": 5}
QUICK = {"partitions": 3, "step": 1, "frames": 2}


# --- peak RSS that can be reset (Linux) -------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mib(resettable: bool) -> float:
    hwm = _status_kib("VmHWM") if resettable else None
    return hwm / 1024 if hwm is not None else peak_rss_mib()


# --- the child process -------------------------------------------------------------------------------------


class Partitions:
    """The simulated detection run of one way, in this process."""

    def __init__(self, way: str, per_partition: int):
        from benchmarks.bench_detect_faces import baseline_loop, face_analysis, face_engine, fixture_videos
        from face_assets.video.probe import probe

        self.way = way
        self.per_partition = per_partition
        self.videos = fixture_videos()
        self.durations = {p: probe(p).duration_seconds for p in self.videos}
        if way == "ours":
            engine = face_engine()  # the resource as the pipeline configures it
            self.detect = engine.detect
        else:
            app = face_analysis()
            self.detect = lambda frames: baseline_loop(app, [frames])
        self.done = 0
        self.faces = 0
        self.seconds: list[float] = []
        self.one()  # warm-up (first runs allocate ONNX Runtime's arenas), not counted
        self.done, self.faces, self.seconds = 0, 0, []
        gc.collect()
        self.start_rss = rss_mib()
        self.resettable = reset_peak()

    def one(self) -> None:
        from face_assets.video.frames import read_frames, sample_timestamps

        path = self.videos[self.done % len(self.videos)]
        started = time.perf_counter()
        frames = read_frames(path, sample_timestamps(self.durations[path], self.per_partition))
        detected = self.detect([f.image for f in frames])
        rows = []
        for frame, faces in zip(frames, detected):
            for face in faces:
                embedding = face.embedding if self.way == "ours" else face.normed_embedding
                rows.append(
                    (
                        frame.frame_index,
                        frame.timestamp_seconds,
                        tuple(map(float, face.bbox)),
                        float(face.det_score),
                        embedding.tolist(),
                    )
                )
        self.faces += len(rows)
        del frames, detected, rows
        self.seconds.append(time.perf_counter() - started)
        self.done += 1

    def until(self, partitions: int) -> dict[str, Any]:
        while self.done < partitions:
            self.one()
        gc.collect()
        return {
            "partitions": self.done,
            "rss_mib": round(rss_mib(), 1),
            "peak_rss_mib": round(peak_mib(self.resettable), 1),
        }


def _child(way: str, per_partition: int) -> None:
    """Line protocol on stdin/stdout: the parent writes a partition count, the child answers one JSON line."""
    protocol, sys.stdout = sys.stdout, sys.stderr  # anything else printed goes to stderr, not into the protocol
    run = Partitions(way, per_partition)
    print(
        json.dumps(
            {
                "ready": True,
                "start_rss_mib": round(run.start_rss, 1),
                "peak_resettable": run.resettable,
                "videos": len(run.videos),
            }
        ),
        file=protocol,
        flush=True,
    )
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        point = run.until(int(command))
        print(json.dumps({**point, "seconds": run.seconds, "faces": run.faces}), file=protocol, flush=True)


class Child:
    def __init__(self, way: str, per_partition: int):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.way = way
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_memory", "--child", way, "--frames", str(per_partition)],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=60)
            raise RuntimeError(f"memory child ({self.way}) exited with {self.proc.returncode} (see its stderr above)")
        return json.loads(line)

    def until(self, partitions: int) -> dict[str, Any]:
        self.proc.stdin.write(f"{partitions}\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def growth(points: list[dict[str, Any]], key: str) -> float:
    return points[-1][key] - points[0][key]


def run(quick: bool = False) -> list[StageResult]:
    cfg = QUICK if quick else FULL
    checkpoints = list(range(cfg["step"], cfg["partitions"] + 1, cfg["step"]))
    ours, base = Child("ours", cfg["frames"]), Child("baseline", cfg["frames"])
    points: dict[str, list[dict[str, Any]]] = {"ours": [], "baseline": []}
    try:
        for n in checkpoints:
            for child in (ours, base) if n % (2 * cfg["step"]) else (base, ours):  # who goes first alternates
                points[child.way].append(child.until(n))
            say(
                f"[memory] {n:>3} partitions: "
                + ", ".join(
                    f"{w} RSS {points[w][-1]['rss_mib']:.0f} MiB (peak {points[w][-1]['peak_rss_mib']:.0f})"
                    for w in ("ours", "baseline")
                )
            )
    finally:
        ours.close()
        base.close()
    seconds = {w: points[w][-1]["seconds"] for w in points}
    faces = {w: points[w][-1]["faces"] for w in points}
    for w in points:
        for p in points[w]:
            p.pop("seconds", None)
    shown = {w: [p for p in points[w] if p["partitions"] in REPORTED or quick] for w in points}
    first, last = shown["ours"][0], shown["ours"][-1]
    peak_growth = growth(shown["ours"], "peak_rss_mib")
    met = peak_growth <= MAX_GROWTH_SHARE * first["peak_rss_mib"]
    ours_median, base_median = median(seconds["ours"]), median(seconds["baseline"])
    return [
        StageResult(
            name=STAGE,
            sizes={
                "partitions": cfg["partitions"],
                "frames_per_partition": cfg["frames"],
                "videos_cycled": ours.info.get("videos"),
            },
            ours="FaceEngine.detect per partition (frames decoded per partition, then released)",
            baseline="FaceAnalysis.get per frame, same partitions",
            ours_median_s=ours_median,
            baseline_median_s=base_median,
            repetitions={"ours": len(seconds["ours"]), "baseline": len(seconds["baseline"])},
            target=(
                f"peak RSS growth from {first['partitions']} to {last['partitions']} partitions <= "
                f"{MAX_GROWTH_SHARE:.0%} of the peak at {first['partitions']} (ours)"
            ),
            met=met,
            notes=(
                f"ours: peak RSS {first['peak_rss_mib']:.0f} MiB after {first['partitions']} partitions, "
                f"{last['peak_rss_mib']:.0f} MiB after {last['partitions']} (growth {peak_growth:+.1f} MiB); "
                f"RSS after gc {first['rss_mib']:.0f} -> {last['rss_mib']:.0f} MiB. Baseline peak "
                f"{shown['baseline'][0]['peak_rss_mib']:.0f} -> {shown['baseline'][-1]['peak_rss_mib']:.0f} MiB. "
                "Peaks are since the models were loaded and one warm-up partition ran"
                + (
                    ""
                    if ours.info.get("peak_resettable")
                    else " (peak reset unavailable here: ru_maxrss, model loading included)"
                )
                + ". Medians are seconds per partition (decode + detect), the two processes taking turns every "
                f"{cfg['step']} partitions; ratio = baseline / ours."
            ),
            metrics={
                "ours": {
                    "start_rss_mib": ours.info.get("start_rss_mib"),
                    "faces": faces["ours"],
                    "points": points["ours"],
                },
                "baseline": {
                    "start_rss_mib": base.info.get("start_rss_mib"),
                    "faces": faces["baseline"],
                    "points": points["baseline"],
                },
                "peak_resettable": ours.info.get("peak_resettable"),
                "ours_peak_growth_mib": peak_growth,
                "ours_rss_growth_mib": growth(shown["ours"], "rss_mib"),
                "baseline_peak_growth_mib": growth(shown["baseline"], "peak_rss_mib"),
                "baseline_rss_growth_mib": growth(shown["baseline"], "rss_mib"),
            },
            ours_samples_s=seconds["ours"],
            baseline_samples_s=seconds["baseline"],
            quick=quick,
        )
    ]


def details_markdown(r: dict) -> str:
    m = r.get("metrics") or {}
    lines = [
        "| partitions | ours RSS after gc (MiB) | ours peak RSS (MiB) | baseline RSS after gc (MiB) | "
        "baseline peak RSS (MiB) |",
        "| --- | --- | --- | --- | --- |",
    ]
    ours, base = m.get("ours") or {}, m.get("baseline") or {}
    lines.append(
        f"| models loaded, 1 warm-up partition | {ours.get('start_rss_mib')} | | {base.get('start_rss_mib')} | |"
    )
    for o, b in zip(ours.get("points", []), base.get("points", [])):
        lines.append(
            f"| {o['partitions']} | {o['rss_mib']} | {o['peak_rss_mib']} | {b['rss_mib']} | {b['peak_rss_mib']} |"
        )
    lines += [
        "",
        f"Growth between the first and last reported checkpoints: ours peak "
        f"{m.get('ours_peak_growth_mib', 0):+.1f} MiB, RSS {m.get('ours_rss_growth_mib', 0):+.1f} MiB; baseline "
        f"peak {m.get('baseline_peak_growth_mib', 0):+.1f} MiB, RSS {m.get('baseline_rss_growth_mib', 0):+.1f} MiB. "
        f"Faces found: ours {ours.get('faces')}, baseline {base.get('faces')}.",
    ]
    return "\n".join(lines) + "\n"


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["ours", "baseline"], required=True)
    parser.add_argument("--frames", type=int, default=5)
    args = parser.parse_args()
    _child(args.child, args.frames)


if __name__ == "__main__":
    _main()
