"""The configuration contract: every environment variable the project reads, in one place.

Values are read when asked for (not at import), so tests and the CLI can set them first.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

# Thresholds are cosine similarity, 1 - cosine distance (pgvector's `<=>`), in [-1, 1]: higher is more alike.
SIMILARITY = "cosine similarity = 1 - (a <=> b)"


def home() -> Path:
    """FACE_ASSETS_HOME [./.face_assets]: all local state (embedded database, Dagster data, frames)."""
    return Path(os.environ.get("FACE_ASSETS_HOME", "./.face_assets")).expanduser().resolve()


def database_url() -> str | None:
    """DATABASE_URL [unset]: the application database; unset means the embedded server."""
    return os.environ.get("DATABASE_URL") or None


def dagster_database_url() -> str | None:
    """FACE_ASSETS_DAGSTER_DATABASE_URL [unset]: Dagster's storage; unset means database `dagster` on the same server."""
    return os.environ.get("FACE_ASSETS_DAGSTER_DATABASE_URL") or None


def legacy_db() -> Path | None:
    """FACE_ASSETS_LEGACY_DB: the legacy SQLite file to migrate."""
    value = os.environ.get("FACE_ASSETS_LEGACY_DB")
    return Path(value).expanduser().resolve() if value else None


@dataclass(frozen=True)
class PathMap:
    """FACE_ASSETS_PATH_MAP: `OLD_PREFIX=NEW_PREFIX[;OLD=NEW...]`, applied to every file path the migration copies."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, spec: str | None) -> PathMap:
        pairs = []
        for item in (spec or "").split(";"):
            if not item.strip():
                continue
            old, sep, new = item.partition("=")
            if not sep or not old:
                raise ValueError(f"FACE_ASSETS_PATH_MAP entry {item!r} is not OLD_PREFIX=NEW_PREFIX")
            pairs.append((old, new))
        # The longest prefix wins, so /srv/media/videos=... beats /srv/media=...
        pairs.sort(key=lambda p: len(p[0]), reverse=True)
        return cls(tuple(pairs))

    def apply(self, path: str | None) -> str | None:
        if not path:
            return path
        for old, new in self.pairs:
            if path == old or path.startswith(old.rstrip("/") + "/"):
                return new + path[len(old) :]
        return path


def path_map() -> PathMap:
    return PathMap.parse(os.environ.get("FACE_ASSETS_PATH_MAP"))


def library_roots_from_env() -> list[Path]:
    """FACE_ASSETS_LIBRARY [unset]: extra library roots, separated by `:`."""
    return [Path(p).expanduser() for p in os.environ.get("FACE_ASSETS_LIBRARY", "").split(":") if p.strip()]


def model_name() -> str:
    """FACE_ASSETS_MODEL [buffalo_l]: the InsightFace model pack."""
    return os.environ.get("FACE_ASSETS_MODEL", "buffalo_l")


def model_root() -> str:
    """FACE_ASSETS_MODEL_ROOT [~/.insightface]: InsightFace's root; the pack is <root>/models/<name>/."""
    return os.environ.get("FACE_ASSETS_MODEL_ROOT", "~/.insightface")


def providers() -> str:
    """FACE_ASSETS_PROVIDERS [auto]: comma-separated ONNX Runtime execution providers, or `auto`."""
    return os.environ.get("FACE_ASSETS_PROVIDERS", "auto")


def path_map_spec() -> str | None:
    return os.environ.get("FACE_ASSETS_PATH_MAP") or None


def allow_model_download() -> bool:
    """FACE_ASSETS_ALLOW_MODEL_DOWNLOAD [1]: let InsightFace download a missing pack (buffalo_l) on first use.

    Set to 0 on machines without internet access (and in tests): a missing pack is then a clear error.
    """
    return os.environ.get("FACE_ASSETS_ALLOW_MODEL_DOWNLOAD", "1").strip() not in ("0", "false", "no")


def sensor_interval_seconds() -> int:
    """FACE_ASSETS_SENSOR_INTERVAL [30]: seconds between two scans of the library (the sensor's minimum interval)."""
    return _whole_number("FACE_ASSETS_SENSOR_INTERVAL", 30, 1, unit="seconds")


def sensor_run_videos() -> int:
    """FACE_ASSETS_SENSOR_RUN_VIDEOS [500]: the most new videos one run of the library sensor takes (a partition range).

    A run costs ~10 s before its first video (submission, launch, code location, model; issue 21's breakdown in
    benchmarks/RESULTS.md) against ~0.7 s of work for a short clip on 2 cores: at 50 a run that start was a quarter of
    a drop's time, at 500 it is a few percent. A failed run re-executes at most this many videos.
    """
    return _whole_number("FACE_ASSETS_SENSOR_RUN_VIDEOS", 500, 1, unit="videos")


def settle_seconds() -> float:
    """FACE_ASSETS_SETTLE_SECONDS [FACE_ASSETS_SENSOR_INTERVAL]: a new library file whose size and modification time
    are at least this old when the sensor first sees it counts as complete at once (a finished file moved or copied
    in with its time); a younger one waits until it held still over two scans. 0: always the two scans."""
    raw = os.environ.get("FACE_ASSETS_SETTLE_SECONDS", "").strip()
    if not raw:
        return float(sensor_interval_seconds())
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"FACE_ASSETS_SETTLE_SECONDS={raw!r} is not a number of seconds") from None
    if not value >= 0:
        raise ValueError(f"FACE_ASSETS_SETTLE_SECONDS={raw!r} must be 0 (off) or more seconds")
    return value


def rematch_cron() -> str:
    """FACE_ASSETS_REMATCH_CRON [0 3 * * *]: when the rematch schedule runs."""
    return os.environ.get("FACE_ASSETS_REMATCH_CRON", "").strip() or "0 3 * * *"


def rematch_timezone() -> str:
    """FACE_ASSETS_REMATCH_TIMEZONE [UTC]: the time zone of that cron."""
    return os.environ.get("FACE_ASSETS_REMATCH_TIMEZONE", "").strip() or "UTC"


def review_app_url() -> str:
    """FACE_ASSETS_REVIEW_URL [http://127.0.0.1:3001]: where `face-assets serve` answers, for the links the Dagster UI
    shows on face_matches and face_clusters materializations."""
    return (os.environ.get("FACE_ASSETS_REVIEW_URL", "").strip() or "http://127.0.0.1:3001").rstrip("/")


def automation_cron() -> str:
    """FACE_ASSETS_AUTOMATION_CRON [*/10 * * * *]: how often, at most, face_clusters and face_recognition_stats
    refresh by themselves after new matches (in FACE_ASSETS_REMATCH_TIMEZONE)."""
    return os.environ.get("FACE_ASSETS_AUTOMATION_CRON", "").strip() or "*/10 * * * *"


def timeline_resolution() -> float:
    """FACE_ASSETS_TIMELINE_RESOLUTION [2]: seconds to which adaptive sampling finds when each person appears and
    leaves (the start and end of an appearance lie between two sampled frames at most this far apart)."""
    raw = os.environ.get("FACE_ASSETS_TIMELINE_RESOLUTION", "").strip()
    if not raw:
        return 2.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"FACE_ASSETS_TIMELINE_RESOLUTION={raw!r} is not a number of seconds") from None
    if not value >= 0.1:
        raise ValueError(f"FACE_ASSETS_TIMELINE_RESOLUTION={raw!r} must be at least 0.1 seconds")
    return value


def backup_dir() -> Path:
    """FACE_ASSETS_BACKUP_DIR [$FACE_ASSETS_HOME/backups]: where `database_backup` and `face-assets db backup` write."""
    value = os.environ.get("FACE_ASSETS_BACKUP_DIR", "").strip()
    return Path(value).expanduser().resolve() if value else home() / "backups"


def backup_keep() -> int:
    """FACE_ASSETS_BACKUP_KEEP [14]: how many backups in FACE_ASSETS_BACKUP_DIR are kept (the newest)."""
    return _whole_number("FACE_ASSETS_BACKUP_KEEP", 14, 1, unit="backups", why="(the backup just written)")


def backup_cron() -> str:
    """FACE_ASSETS_BACKUP_CRON [0 2 * * *]: when the database_backup schedule runs (in FACE_ASSETS_REMATCH_TIMEZONE)."""
    return os.environ.get("FACE_ASSETS_BACKUP_CRON", "").strip() or "0 2 * * *"


def embedded_pg_settings() -> dict[str, str]:
    """Memory of the embedded PostgreSQL (ignored with DATABASE_URL: tune that server yourself).

    FACE_ASSETS_PG_SHARED_BUFFERS (default 1GB): PostgreSQL's 128MB default is smaller than the HNSW index of 100,000
    faces (~260 MB), and neighbour queries then read index pages through the OS for every face (measured in
    benchmarks/: clustering). FACE_ASSETS_PG_MAINTENANCE_WORK_MEM (default 1GB): an HNSW build whose graph fits in
    it is several times faster."""
    return {
        "shared_buffers": os.environ.get("FACE_ASSETS_PG_SHARED_BUFFERS", "").strip() or "1GB",
        "maintenance_work_mem": os.environ.get("FACE_ASSETS_PG_MAINTENANCE_WORK_MEM", "").strip() or "1GB",
    }


# --- serving (face-assets serve, dev) ---------------------------------------------------------------------------------

WEB_TOKEN_ENV = "FACE_ASSETS_WEB_TOKEN"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def web_token() -> str | None:
    """FACE_ASSETS_WEB_TOKEN [unset]: the review app's token; without it the app serves this machine only."""
    return os.environ.get(WEB_TOKEN_ENV) or None


def web_host() -> str:
    """FACE_ASSETS_WEB_HOST [127.0.0.1]: the address `face-assets serve` binds (another one needs the token)."""
    return os.environ.get("FACE_ASSETS_WEB_HOST", "").strip() or "127.0.0.1"


def dagster_ui_url() -> str:
    """FACE_ASSETS_DAGSTER_UI [http://127.0.0.1:3000]: the Dagster UI the review app's pages link to."""
    return (os.environ.get("FACE_ASSETS_DAGSTER_UI", "").strip() or "http://127.0.0.1:3000").rstrip("/")


def _whole_number(name: str, default: int, minimum: int, unit: str = "", why: str = "") -> int:
    """The whole number in environment variable `name` (`default` when unset); a clear error below `minimum`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number{' of ' + unit if unit else ''}") from None
    if value < minimum:
        at_least = f"{minimum} {unit}" if unit else str(minimum)
        raise ValueError(f"{name}={raw!r} must be at least {at_least}{' ' + why if why else ''}")
    return value


def cpu_cores() -> int:
    """The cores this process may run on (a cpuset or taskset limits them below os.cpu_count())."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def inference_workers() -> int:
    """FACE_ASSETS_INFERENCE_WORKERS [the cores]: face-model calls the web app runs at once (each on one core)."""
    return _whole_number("FACE_ASSETS_INFERENCE_WORKERS", cpu_cores(), 1)


def inference_queue(workers: int) -> int:
    """FACE_ASSETS_INFERENCE_QUEUE [2 x workers]: photos that may wait for a worker; beyond them, 503 at once.

    Two per worker keep every worker fed while the next request travels (decode, network) and bound a request's
    wait to about two model calls, far below a client's timeout (the legacy client's is 30 s)."""
    return _whole_number("FACE_ASSETS_INFERENCE_QUEUE", 2 * workers, 0)


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host.lower() in LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UnsafeBinding(ValueError):
    """A non-loopback address without FACE_ASSETS_WEB_TOKEN."""


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a token (every page and API call then needs it)."""
    if not is_loopback(host) and not token:
        raise UnsafeBinding(
            f"refusing to serve on {host}: only 127.0.0.1 (this machine) is served without a token; set "
            f"{WEB_TOKEN_ENV} to serve on another address (every page and API call then needs the token)"
        )
