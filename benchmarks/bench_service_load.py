"""Stage `service_load`: the legacy app's face service (POST /detect) under 1, 2, 4 and 16 concurrent clients.

A real server: uvicorn in a subprocess serving face_assets.web.app:serve_app (what `face-assets serve` runs), on a
scratch database with the project's tables, the default inference pool (FACE_ASSETS_INFERENCE_WORKERS = the cores,
FACE_ASSETS_INFERENCE_QUEUE = 2 per worker). Clients are threads of this process, each on its own keep-alive
connection, sending fixture photos (lfw_dev, multipart field `file`) one after another for a fixed time per level;
a refused request (503) waits its Retry-After, as the contract asks of a client. At 16 clients (and once with no
client, for comparison) one more client loads the review page /review every PAGE_INTERVAL_S: its latency is what a
person sees while inference is saturated; at the other levels it would only take CPU from the throughput measured.

OURS: photos/s answered 200 at each level (seconds per photo = 1 / photos/s, per time window of the level).
BASELINE, the reference: the raw model limit measured in the same run, before and after the levels: the detector
and recognizer sessions called directly (SCRFD detect, alignment, ArcFace per face) on the same photos, already
decoded, one thread per core, no HTTP and no decoding.
ratio = baseline median / ours median = our photos/s over the raw limit's. Goals: at 4 clients >= 0.8x; the review
page p95 <= 300 ms while 16 clients saturate inference; the server's RSS flat across the stage (<= 10% growth from
after the warm-up to the end). p50/p95 are of the 200 answers' latencies; `refused_503`, the 503 answers.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import FIXTURES, REPO, StageResult, load_average, median, percentile, say, scratch_database

STAGE = "service_load"
FULL = {
    "seconds": 20.0,
    "windows": 4,
    "reference_seconds": 10.0,
    "warm_seconds": 5.0,
    "photos": 16,
    "levels": (1, 2, 4, 16),
}
QUICK = {
    "seconds": 2.0,
    "windows": 1,
    "reference_seconds": 1.0,
    "warm_seconds": 1.0,
    "photos": 4,
    "levels": (1, 2, 4, 16),
}
PAGE = "/review"
PAGE_INTERVAL_S = 0.2
# The page is loaded at this level only (its goal): at the others it would take CPU from the throughput measured.
PAGE_CLIENTS = 16
RSS_INTERVAL_S = 0.2
TARGET_SHARE = 0.8  # of the raw model limit, at 4 clients
TARGET_PAGE_P95_MS = 300.0
MAX_RSS_GROWTH = 0.10
STARTUP_TIMEOUT_S = 180.0


def photos(n: int) -> list[Path]:
    """n fixture photos, one person each, spread over lfw_dev (the same list every run)."""
    found = sorted((FIXTURES / "lfw_dev" / "images").glob("*/*_0001.jpg"))
    if not found:
        raise FileNotFoundError(f"no lfw_dev photos under {FIXTURES / 'lfw_dev' / 'images'}")
    step = max(1, len(found) // n)
    return found[::step][:n]


def multipart(content: bytes, name: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- the server ----------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prepare_database(url: str) -> None:
    """The tables the review pages read: the legacy tables the face schema refers to, and the face schema."""
    import psycopg

    from benchmarks.bench_matching import create_real_schema

    with psycopg.connect(url) as conn:
        create_real_schema(conn)


class Server:
    """uvicorn serving the app factory `face-assets serve` uses, in its own process."""

    def __init__(self, url: str):
        self.port = _free_port()
        env = {**os.environ, "DATABASE_URL": url, "FACE_ASSETS_WEB_HOST": "127.0.0.1"}
        env.pop("FACE_ASSETS_WEB_TOKEN", None)
        for var in ("FACE_ASSETS_INFERENCE_WORKERS", "FACE_ASSETS_INFERENCE_QUEUE"):
            env.pop(var, None)  # the defaults are what is measured
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "face_assets.web.app:serve_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-server-header",
            ],
            cwd=REPO,
            env=env,
        )

    def wait_healthy(self) -> dict[str, Any]:
        """Until /health says healthy (it loads the model); its answer."""
        import json

        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request("GET", "/health")
                response = conn.getresponse()
                last = json.loads(response.read())
                conn.close()
                if last.get("status") == "healthy":
                    return last
            except (OSError, ValueError, http.client.HTTPException) as exc:
                last = exc
            time.sleep(0.2)
        raise RuntimeError(f"the server did not become healthy in {STARTUP_TIMEOUT_S:.0f} s: {last}")

    def rss_mib(self) -> tuple[float | None, float | None]:
        """(current RSS, peak RSS) of the server process, MiB."""
        values: dict[str, float] = {}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(line.split()[1]) / 1024
        except OSError:
            pass
        return values.get("VmRSS"), values.get("VmHWM")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


# --- the clients -----------------------------------------------------------------------------------------------------


@dataclass
class Level:
    clients: int
    started: float = 0.0
    ended: float = 0.0
    done_at: list[float] = field(default_factory=list)  # when each 200 answer arrived
    latencies: list[float] = field(default_factory=list)  # of the 200 answers
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    page_latencies: list[float] = field(default_factory=list)
    rss_peak_seen: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(
    port: int, bodies: list[tuple[bytes, str]], offset: int, level: Level, until: float, once: bool = False
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    i = offset
    while once or time.monotonic() < until:
        once = False
        body, kind = bodies[i % len(bodies)]
        i += 1
        started = time.monotonic()
        try:
            conn.request("POST", "/detect", body=body, headers={"Content-Type": kind})
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            with level.lock:
                level.errors.append(exc.__class__.__name__)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        now = time.monotonic()
        if response.status == 200:
            with level.lock:
                level.done_at.append(now)
                level.latencies.append(now - started)
        elif response.status == 503:
            with level.lock:
                level.refused += 1
            wait = float(response.getheader("Retry-After") or 1)
            time.sleep(max(0.0, min(wait, until - time.monotonic())))
        else:
            with level.lock:
                level.errors.append(f"HTTP {response.status}")
    conn.close()


def _rss(level: Level, until: float, server: Server) -> None:
    while time.monotonic() < until:
        rss, _ = server.rss_mib()
        level.rss_peak_seen = max(level.rss_peak_seen, rss or 0.0)
        time.sleep(RSS_INTERVAL_S)


def _pages(port: int, level: Level, until: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            conn.request("GET", PAGE, headers={"Accept": "text/html"})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                level.page_latencies.append(time.monotonic() - started)
            else:
                level.errors.append(f"page HTTP {response.status}")
        except (OSError, http.client.HTTPException) as exc:
            level.errors.append(f"page {exc.__class__.__name__}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        time.sleep(max(0.0, PAGE_INTERVAL_S - (time.monotonic() - started)))
    conn.close()


def run_level(
    server: Server, bodies: list[tuple[bytes, str]], clients: int, seconds: float, pages: bool = False
) -> Level:
    """`clients` clients for `seconds`; with `pages`, the review page loaded meanwhile."""
    level = Level(clients)
    level.started = time.monotonic()
    until = level.started + seconds
    threads = [
        threading.Thread(target=_client, args=(server.port, bodies, i * 3, level, until), daemon=True)
        for i in range(clients)
    ]
    threads.append(threading.Thread(target=_rss, args=(level, until, server), daemon=True))
    if pages:
        threads.append(threading.Thread(target=_pages, args=(server.port, level, until), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    level.ended = time.monotonic()
    return level


def per_photo_windows(done_at: list[float], started: float, seconds: float, windows: int) -> list[float]:
    """Seconds per photo in each of `windows` equal windows of [started, started + seconds]."""
    width = seconds / windows
    counts = [0] * windows
    for t in done_at:
        k = int((t - started) / width)
        if 0 <= k < windows:
            counts[k] += 1
    return [width / c for c in counts if c] or [seconds]  # none at all: at least the whole time per photo


# --- the raw model limit -----------------------------------------------------------------------------------------------


def raw_limit(images: list, seconds: float, windows: int) -> list[float]:
    """Seconds per photo (per window) with the sessions called directly, one thread per core."""
    from insightface.utils import face_align

    from face_assets import settings
    from face_assets.web.deps import WebState

    models = WebState(database_url="").engine()._models()  # the sessions the server builds (pack, providers, threads)
    crop_size = int(models.recognizer.input_size[0])

    def one(image) -> int:
        boxes, kpss = models.detector.detect(image, max_num=0, metric="default")
        for kps in kpss:
            models.recognizer.get_feat([face_align.norm_crop(image, landmark=kps, image_size=crop_size)])
        return len(boxes)

    for image in images:
        one(image)  # warm
    done_at: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()
    until = started + seconds

    def worker(offset: int) -> None:
        i = offset
        while time.monotonic() < until:
            one(images[i % len(images)])
            i += 1
            with lock:
                done_at.append(time.monotonic())

    threads = [threading.Thread(target=worker, args=(k * 5,)) for k in range(settings.cpu_cores())]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per_photo_windows(done_at, started, seconds, windows)


# --- the stage -----------------------------------------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> float | None:
    p = percentile(values, q)
    return None if p is None else round(p * 1e3, 1)


def run(quick: bool = False) -> list[StageResult]:
    from face_assets import settings
    from face_assets.web.uploads import decode_photo

    n = QUICK if quick else FULL
    paths = photos(n["photos"])
    contents = [p.read_bytes() for p in paths]
    bodies = [multipart(c, p.name) for c, p in zip(contents, paths)]
    images = [decode_photo(c) for c in contents]
    workers = settings.inference_workers()
    queue = settings.inference_queue(workers)
    load_before = load_average()

    with scratch_database("service") as url:
        _prepare_database(url)
        server = Server(url)
        try:
            health = server.wait_healthy()
            say(f"[{STAGE}] server on port {server.port}: {health['model']} on {health['onnx_providers']}")
            rss_loaded, _ = server.rss_mib()
            # Warm-up: a few seconds with more clients than workers, so that every inference thread has run beside
            # the others. The first sustained concurrent load adds a one-time ~25 MB (measured: once, then flat;
            # likely the threads' own malloc arenas); the growth measured after it is that of the load.
            run_level(server, bodies, 2 * workers, n["warm_seconds"])
            idle = run_level(server, bodies[:1], 0, min(5.0, n["seconds"]), pages=True)  # the page alone
            rss_start, _ = server.rss_mib()
            say(f"[{STAGE}] raw model limit ({settings.cpu_cores()} threads, {n['reference_seconds']:.0f} s) ...")
            reference = raw_limit(images, n["reference_seconds"], n["windows"])
            levels: list[Level] = []
            rss_after: dict[int, float | None] = {}
            for clients in n["levels"]:
                say(f"[{STAGE}] {clients} client(s) for {n['seconds']:.0f} s ...")
                level = run_level(server, bodies, clients, n["seconds"], pages=clients == PAGE_CLIENTS)
                levels.append(level)
                rss_after[clients] = server.rss_mib()[0]
                say(
                    f"[{STAGE}]   {len(level.done_at)} answered, p95 "
                    f"{_ms(level.latencies, 95)} ms, {level.refused} refused, page p95 {_ms(level.page_latencies, 95)} ms"
                )
            reference += raw_limit(images, n["reference_seconds"], n["windows"])
            _, peak = server.rss_mib()
        finally:
            server.close()

    raw_s = median(reference)
    raw_rate = 1 / raw_s
    rss_end = rss_after[n["levels"][-1]]
    growth = (rss_end - rss_start) / rss_start if rss_start and rss_end else None
    common = {
        "raw_photos_per_s": round(raw_rate, 2),
        "workers": workers,
        "queue": queue,
        "idle_page_p50_ms": _ms(idle.page_latencies, 50),
        "idle_page_p95_ms": _ms(idle.page_latencies, 95),
        "rss_model_loaded_mib": round(rss_loaded, 1) if rss_loaded else None,
        "rss_after_warmup_mib": round(rss_start, 1) if rss_start else None,
        "rss_after_level_mib": {f"c{c}": round(v, 1) if v else None for c, v in rss_after.items()},
        "peak_rss_mib": round(peak, 1) if peak else None,
        "rss_growth": round(growth, 4) if growth is not None else None,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    results = []
    for level in levels:
        samples = per_photo_windows(level.done_at, level.started, n["seconds"], n["windows"])
        answered = sum(1 for t in level.done_at if t <= level.started + n["seconds"])  # in the level's time only
        rate = answered / n["seconds"]
        page_p95 = _ms(level.page_latencies, 95)
        if level.clients == 4:
            target, met = f">= {TARGET_SHARE}x the raw model limit (photos/s)", rate >= TARGET_SHARE * raw_rate
        elif level.clients == PAGE_CLIENTS:
            target = (
                f"review page p95 <= {TARGET_PAGE_P95_MS:.0f} ms while saturated; server RSS growth <= "
                f"{MAX_RSS_GROWTH:.0%} over the stage"
            )
            met = (
                page_p95 is not None
                and page_p95 <= TARGET_PAGE_P95_MS
                and growth is not None
                and growth <= MAX_RSS_GROWTH
                and not level.errors
            )
        else:
            target, met = "recorded: no answer but 200 or 503", not level.errors
        results.append(
            StageResult(
                name=f"{STAGE}.c{level.clients}",
                sizes={
                    "clients": level.clients,
                    "seconds": n["seconds"],
                    "photos": len(paths),
                    "cores": settings.cpu_cores(),
                    "workers": workers,
                    "queue": queue,
                },
                ours=f"POST /detect on a real server (uvicorn, serve_app), {level.clients} keep-alive client(s)",
                baseline="raw model limit: detector + recognizer sessions called directly on the decoded photos, "
                "one thread per core",
                ours_median_s=median(samples),
                baseline_median_s=raw_s,
                repetitions={"ours": len(samples), "baseline": len(reference)},
                target=target,
                met=bool(met),
                notes=(
                    f"{rate:.1f} photos/s against the raw limit's {raw_rate:.1f} ({rate / raw_rate:.2f}x); "
                    f"p50 {_ms(level.latencies, 50)} / p95 {_ms(level.latencies, 95)} ms; {level.refused} refused "
                    f"(503)"
                    + (f"; review page p95 {page_p95} ms (idle {common['idle_page_p95_ms']} ms)" if page_p95 else "")
                ),
                metrics={
                    **common,
                    "photos_per_s": round(rate, 2),
                    "share_of_raw_limit": round(rate / raw_rate, 3),
                    "answered": answered,
                    "p50_ms": _ms(level.latencies, 50),
                    "p95_ms": _ms(level.latencies, 95),
                    "refused_503": level.refused,
                    "errors": sorted(set(level.errors)),
                    "page_calls": len(level.page_latencies),
                    "page_p50_ms": _ms(level.page_latencies, 50),
                    "page_p95_ms": page_p95,
                    "rss_peak_seen_mib": round(level.rss_peak_seen, 1),
                },
                ours_samples_s=samples,
                baseline_samples_s=reference,
                quick=quick,
            )
        )
    return results


def details_markdown(r: dict) -> str:
    m = r.get("metrics") or {}
    lines = [
        f"- {m.get('photos_per_s')} photos/s = {m.get('share_of_raw_limit')}x the raw model limit "
        f"({m.get('raw_photos_per_s')} photos/s, {r.get('sizes', {}).get('cores')} threads); "
        f"{m.get('workers')} inference workers, queue {m.get('queue')}",
        f"- /detect p50 {m.get('p50_ms')} ms, p95 {m.get('p95_ms')} ms; {m.get('refused_503')} refused (503); "
        f"errors: {m.get('errors') or 'none'}",
    ]
    if m.get("page_calls"):
        lines.append(
            f"- review page {PAGE} meanwhile: p50 {m.get('page_p50_ms')} ms, p95 {m.get('page_p95_ms')} ms over "
            f"{m.get('page_calls')} calls (with no client: p50 {m.get('idle_page_p50_ms')}, p95 "
            f"{m.get('idle_page_p95_ms')} ms)"
        )
    lines.append(
        f"- server RSS: {m.get('rss_model_loaded_mib')} MiB with the model loaded, {m.get('rss_after_warmup_mib')} MiB "
        f"after the warm-up, after each level "
        f"{m.get('rss_after_level_mib')}, peak {m.get('peak_rss_mib')} MiB (growth {m.get('rss_growth')})"
    )
    return "\n".join(lines) + "\n"
