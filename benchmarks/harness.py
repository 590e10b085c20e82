"""What every benchmark stage shares: the result record, timing, the benchmark database, the machine description.

A stage is a module `benchmarks/bench_<stage>.py` exposing `run(quick: bool) -> list[StageResult]`. It measures
OUR way and the BASELINE in the same process and run, several repetitions each (interleaved, so drift on the
machine hits both alike), and reports medians. Nothing here asserts speed: `met` is information, never a failure.

Ratio convention, everywhere: ratio = baseline median / ours median, so a ratio above 1 means ours is faster
(for latency and seconds) by that factor.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / ".data"  # git-ignored: generated inputs (legacy DB, video), the embedded server's home
FIXTURES = Path(os.environ.get("FACE_ASSETS_FIXTURES", REPO.parent / "shared" / "fixtures")).resolve()
MODEL_NAME = "buffalo_sc"
RATIO_MEANING = "baseline median / ours median (above 1: ours is faster by that factor)"
# Repetitions of ours and of the baseline a row needs for its medians to mean something (issue 21); a row with fewer
# says why in `repetitions_note` (RESULTS.md shows it).
MIN_REPETITIONS = 3


class Seconds(float):
    """The seconds of one repetition, carrying the 1-minute load average taken just before it (`timed` and
    `interleaved` make them; a StageResult built from them records the load of each repetition by itself)."""

    load_average: float | None = None

    def __new__(cls, seconds: float, load_average: float | None = None) -> Seconds:
        value = super().__new__(cls, seconds)
        value.load_average = load_average
        return value


def load_averages(samples: list[float]) -> list[float | None]:
    """The load average before each sample (None where a sample carries none: computed, scaled, ...)."""
    return [getattr(s, "load_average", None) for s in samples]


def scaled(samples: list[float], factor: float) -> list[Seconds]:
    """Samples multiplied by `factor` (an extrapolation), each keeping its load average."""
    return [Seconds(s * factor, getattr(s, "load_average", None)) for s in samples]


@dataclass
class StageResult:
    name: str  # stage name, e.g. "migrate"; a stage may return several results (e.g. "nearest_face.filtered")
    sizes: dict[str, Any]  # what was measured: rows, vectors, frames, ...
    ours: str  # what OUR way is, in words
    baseline: str  # what the baseline is, in words
    ours_median_s: float | None  # median seconds of one repetition of ours (latency stages: one query)
    baseline_median_s: float | None
    repetitions: dict[str, int]  # {"ours": n, "baseline": n}
    target: str  # in words, e.g. ">= 10x (ours over baseline)"
    met: bool
    notes: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)  # stage-specific figures (p50 ms, recall, fps, RSS, ...)
    ours_samples_s: list[float] = field(default_factory=list)
    baseline_samples_s: list[float] = field(default_factory=list)
    quick: bool = False
    # 1-minute load average just before each repetition; taken from the samples when they carry it (Seconds).
    ours_load_averages: list[float | None] = field(default_factory=list)
    baseline_load_averages: list[float | None] = field(default_factory=list)
    # Why ours or the baseline has fewer than MIN_REPETITIONS repetitions (cost, a single figure by nature, ...).
    repetitions_note: str = ""

    def __post_init__(self) -> None:
        for side in ("ours", "baseline"):
            samples = getattr(self, f"{side}_samples_s")
            if not getattr(self, f"{side}_load_averages") and any(
                getattr(s, "load_average", None) is not None for s in samples
            ):
                setattr(self, f"{side}_load_averages", load_averages(samples))
            setattr(self, f"{side}_samples_s", [float(s) for s in samples])

    @property
    def ratio(self) -> float | None:
        if not self.ours_median_s or self.baseline_median_s is None:
            return None
        return self.baseline_median_s / self.ours_median_s

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["ratio_meaning"] = RATIO_MEANING
        return data


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    """q in [0, 100], linear interpolation (like numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def timed(fn: Callable[[], Any]) -> tuple[Seconds, Any]:
    """(seconds, result) of one call; garbage collected before, so one repetition's garbage never bills the next.
    The seconds carry the load average taken just before the call."""
    gc.collect()
    load = load_average()
    started = time.perf_counter()
    result = fn()
    return Seconds(time.perf_counter() - started, load), result


def cached_input(path: Path, make: Callable[[Path], Any], stage: str) -> Path:
    """`path`, made by `make(path)` on first use (generated inputs are cached under benchmarks/.data/)."""
    if not path.exists():
        say(f"[{stage}] generating {path.name} (once; cached in {path.parent}) ...")
        seconds, _ = timed(lambda: make(path))
        say(f"[{stage}] generated in {seconds:.1f} s, {path.stat().st_size / 2**20:.0f} MiB")
    return path


def interleaved(
    ours: Callable[[int], Any],
    baseline: Callable[[int], Any],
    repetitions: int,
    baseline_repetitions: int | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[list[float], list[float], list[Any], list[Any]]:
    """Run ours and the baseline alternately (ours, baseline, ours, ...); each callable gets the repetition number.

    Returns (ours seconds, baseline seconds, ours results, baseline results); each second carries the load average
    taken before its repetition (Seconds).
    """
    baseline_repetitions = repetitions if baseline_repetitions is None else baseline_repetitions
    ours_s: list[Seconds] = []
    base_s: list[Seconds] = []
    ours_r: list[Any] = []
    base_r: list[Any] = []
    for i in range(max(repetitions, baseline_repetitions)):
        if i < repetitions:
            s, r = timed(lambda i=i: ours(i))
            ours_s.append(s)
            ours_r.append(r)
            if log:
                log(f"  ours      #{i + 1}: {s:.3f} s (load {s.load_average})")
        if i < baseline_repetitions:
            s, r = timed(lambda i=i: baseline(i))
            base_s.append(s)
            base_r.append(r)
            if log:
                log(f"  baseline  #{i + 1}: {s:.3f} s (load {s.load_average})")
    return ours_s, base_s, ours_r, base_r


def say(message: str) -> None:
    print(message, flush=True)


# --- environment and fixtures ---------------------------------------------------------------------


def require_fixtures(*relative: str) -> None:
    """Raise FileNotFoundError naming what is missing under the fixtures folder."""
    for rel in relative or ("",):
        path = FIXTURES / rel
        if not path.exists():
            raise FileNotFoundError(
                f"benchmark fixture {path} not found (expected ../shared/fixtures beside the checkout)"
            )


def configure_environment(home: Path | None = None) -> None:
    """Benchmark settings: their own FACE_ASSETS_HOME (own embedded server), the fixture model pack, CPU.

    Called by `python -m benchmarks`, not by the stages, so the smoke test keeps the test suite's environment.
    """
    home = Path(os.environ.get("BENCH_FACE_ASSETS_HOME") or home or DATA_DIR / "home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["FACE_ASSETS_HOME"] = str(home)
    os.environ["FACE_ASSETS_MODEL"] = MODEL_NAME
    os.environ["FACE_ASSETS_MODEL_ROOT"] = str(FIXTURES)
    os.environ["FACE_ASSETS_PROVIDERS"] = "CPUExecutionProvider"
    # The benchmarks create and drop their own databases on the embedded server; never on DATABASE_URL's.
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("FACE_ASSETS_DAGSTER_DATABASE_URL", None)


def model_root() -> str:
    return os.environ.get("FACE_ASSETS_MODEL_ROOT") or str(FIXTURES)


# --- the benchmark database -------------------------------------------------------------------------


def server_url() -> str:
    """Maintenance URL of the embedded PostgreSQL under $FACE_ASSETS_HOME (started if needed)."""
    from face_assets.db import embedded_postgres

    return embedded_postgres.start()


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new empty database on the embedded server, dropped afterwards."""
    import psycopg
    from psycopg import sql

    from face_assets.db.embedded_postgres import with_database

    server = server_url()
    name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server, name)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- the machine ---------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info(with_database: bool = True) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": _package_version("onnxruntime"),
        "insightface": _package_version("insightface"),
        "opencv": _package_version("opencv-python-headless") or _package_version("opencv-python"),
        "numpy": _package_version("numpy"),
        "psycopg": _package_version("psycopg"),
    }
    if with_database:
        try:
            import psycopg

            with psycopg.connect(server_url(), autocommit=True) as conn:
                info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
                row = conn.execute(
                    "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
                ).fetchone()
                info["pgvector"] = row[0] if row else None
                info["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]
        except Exception as exc:  # the report still gets written without the server
            info["postgresql"] = f"unavailable ({exc.__class__.__name__})"
    return info


def load_average() -> float | None:
    """1-minute load average (other work on a shared machine shows here), or None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def rss_mib() -> float:
    """Current resident set size of this process, MiB."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:  # Linux fallback
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
