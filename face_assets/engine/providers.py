"""ONNX Runtime execution providers: which to use (ROCm, MIGraphX, CUDA, then CPU) and their options."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dagster import get_dagster_logger

log = get_dagster_logger(__name__)

CPU = "CPUExecutionProvider"
ROCM = "ROCMExecutionProvider"
MIGRAPHX = "MIGraphXExecutionProvider"
CUDA = "CUDAExecutionProvider"

# `auto` tries these in order; CPU is always appended last so unsupported nodes (and machines) still run.
AUTO_ORDER: tuple[str, ...] = (ROCM, MIGRAPHX, CUDA)

# Short names accepted in FACE_ASSETS_PROVIDERS besides ONNX Runtime's full names.
_ALIASES = {"rocm": ROCM, "migraphx": MIGRAPHX, "cuda": CUDA, "cpu": CPU}

# ONNX Runtime 1.23 replaced the MIGraphX EP's per-file save/load options by one cache directory.
_MIGRAPHX_CACHE_DIR_SINCE = (1, 23)


def select_providers(requested: str, available: Sequence[str]) -> list[str]:
    """The ONNX Runtime providers to use, best first.

    `auto` (or empty): ROCm, MIGraphX, CUDA — those in `available` — then CPU.
    Otherwise a comma-separated list, kept in the user's order; entries not in `available` are dropped with a
    warning, and a ValueError is raised when none is left. Short names (rocm, migraphx, cuda, cpu) are accepted.
    """
    spec = (requested or "auto").strip()
    if spec.lower() == "auto":
        return [p for p in AUTO_ORDER if p in available] + [CPU]

    wanted: list[str] = []
    for item in spec.split(","):
        name = _ALIASES.get(item.strip().lower(), item.strip())
        if name and name not in wanted:
            wanted.append(name)
    chosen = [p for p in wanted if p in available]
    dropped = [p for p in wanted if p not in available]
    if dropped:
        log.warning(
            f"Execution providers {dropped} are not in this onnxruntime build (available: {list(available)}); skipping them"
        )
    if not chosen:
        raise ValueError(
            f"None of the requested execution providers {wanted} is available; this onnxruntime build has "
            f"{list(available)}. Set FACE_ASSETS_PROVIDERS to `auto` or to some of those, or install the "
            "matching onnxruntime package (onnxruntime-rocm / onnxruntime-gpu)."
        )
    return chosen


def provider_options(
    providers: Sequence[str],
    *,
    device_id: int = 0,
    migraphx_fp16: bool = True,
    migraphx_cache_path: str | None = None,
    ort_version: str | None = None,
) -> list[dict[str, str]]:
    """One option dict per provider, in the same order, as `onnxruntime.InferenceSession` takes them.

    Values are strings because that is what ONNX Runtime parses (booleans as "1"/"0").
    - ROCm, CUDA: `device_id`.
    - MIGraphX: `device_id`, `migraphx_fp16_enable`, and, on ONNX Runtime >= 1.23, `migraphx_model_cache_dir`
      so compiled programs are reused across processes. Older releases only have per-file
      `migraphx_save/load_compiled_model` options whose saved program ignores later input shapes, which would be
      wrong for our variable recognition batches, so no cache is configured there (compilation then happens
      once per process). The cache gets a sub-folder per precision so fp16 and fp32 programs never mix.
    - CPU and anything else: no options.
    """
    version = _version_tuple(ort_version if ort_version is not None else onnxruntime_version())
    options: list[dict[str, str]] = []
    for provider in providers:
        if provider in (ROCM, CUDA):
            options.append({"device_id": str(device_id)})
        elif provider == MIGRAPHX:
            opts = {"device_id": str(device_id), "migraphx_fp16_enable": "1" if migraphx_fp16 else "0"}
            if migraphx_cache_path and version >= _MIGRAPHX_CACHE_DIR_SINCE:
                opts["migraphx_model_cache_dir"] = str(
                    Path(migraphx_cache_path).expanduser() / ("fp16" if migraphx_fp16 else "fp32")
                )
            options.append(opts)
        else:
            options.append({})
    return options


def onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)
