"""The model pack: finding it, and building its detector and recognizer ONNX Runtime sessions once per process.

The sessions are shared by every engine with the same configuration (see `load_models`), because building them is
the slow part: seconds on CPU, and minutes on an AMD GPU where MIGraphX compiles the graph.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import get_dagster_logger

from face_assets import settings
from face_assets.engine.providers import CPU

log = get_dagster_logger(__name__)

# The only InsightFace tasks this project needs; the landmark and gender/age models of a pack are skipped.
ALLOWED_MODULES: tuple[str, ...] = ("detection", "recognition")

# Ops whose quantisation scale is computed over the whole input tensor, batch axis included: with them a
# face's embedding depends on the other faces in its batch (measured on the int8 fixture pack: cosine
# down to ~0.89 against the same face alone), so such models must be run one face at a time.
_BATCH_COUPLED_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM"})

ALLOW_DOWNLOAD_ENV = "FACE_ASSETS_ALLOW_MODEL_DOWNLOAD"


class FaceEngineError(RuntimeError):
    """The engine cannot be built: missing model pack, unusable pack, bad provider list."""


def import_insightface_lightly() -> None:
    """Let `from insightface.<module> import ...` skip insightface/__init__.py, which imports InsightFace's whole
    app (its mask renderer: albumentations, face3d, matplotlib; 2-3 s of CPU in every process that loads the model,
    each run worker of the daemon included) for nothing used here: the engine needs model_zoo (the SCRFD and ArcFace
    wrappers) and utils (face_align, storage) only. The package is registered without running its __init__; its
    submodules then import as usual. Nothing happens when insightface is already imported (or not installed)."""
    if "insightface" in sys.modules:
        return
    spec = importlib.util.find_spec("insightface")
    if spec is None or spec.submodule_search_locations is None:
        return  # the import that follows says what is missing
    import onnxruntime  # noqa: F401 - what insightface/__init__.py checks first

    sys.modules["insightface"] = importlib.util.module_from_spec(spec)  # __path__ set, __init__ not run


def resolve_model_dir(name: str, root: str) -> Path:
    """The folder holding the pack's .onnx files: `<root>/models/<name>`, or `name` itself when it is a path.

    InsightFace would silently download a missing pack from GitHub; we refuse unless
    FACE_ASSETS_ALLOW_MODEL_DOWNLOAD=0 (machines without internet access, and the tests): then a missing pack is a
    clear error instead of a hanging download.
    """
    if os.sep in name or name.startswith("~"):
        candidate = Path(name).expanduser()
    else:
        candidate = Path(root).expanduser() / "models" / name
    if candidate.is_dir():
        return candidate.resolve()
    if settings.allow_model_download() and os.sep not in name:
        import_insightface_lightly()
        from insightface.utils import ensure_available

        log.info(f"Downloading InsightFace model pack {name!r} into {candidate} (set {ALLOW_DOWNLOAD_ENV}=0 to forbid)")
        return Path(ensure_available("models", name, root=str(Path(root).expanduser()))).resolve()
    raise FaceEngineError(
        f"InsightFace model pack {name!r} not found: looked for the folder {candidate}. "
        "Set FACE_ASSETS_MODEL to the pack name (e.g. buffalo_l) and FACE_ASSETS_MODEL_ROOT to the folder that "
        "contains models/<name>/ (default ~/.insightface), or FACE_ASSETS_MODEL to the pack folder itself. "
        f"Downloads are off ({ALLOW_DOWNLOAD_ENV}=0); set it to 1 to let InsightFace download the pack."
    )


@dataclass(frozen=True)
class ModelKey:
    model_dir: str
    providers: tuple[str, ...]
    options: tuple[tuple[tuple[str, str], ...], ...]
    intra_op_threads: int
    allow_spinning: bool
    det_size: int
    det_threshold: float


@dataclass
class Models:
    detector: Any  # insightface.model_zoo.RetinaFace (SCRFD)
    recognizer: Any  # insightface.model_zoo.ArcFaceONNX
    batch_coupled: bool
    active_providers: list[str]


_CACHE: dict[ModelKey, Models] = {}
_CACHE_LOCK = threading.Lock()


def load_models(key: ModelKey) -> Models:
    """The sessions for `key`, built on first use in this process and shared afterwards."""
    with _CACHE_LOCK:
        models = _CACHE.get(key)
        if models is None:
            models = _build_models(key)
            _CACHE[key] = models
        return models


def _build_models(key: ModelKey) -> Models:
    # FaceAnalysis builds sessions for every .onnx in the pack and takes no SessionOptions, so we route the
    # files ourselves with InsightFace's ModelRouter (same model classes FaceAnalysis uses), which forwards
    # sess_options, providers and provider_options to onnxruntime.InferenceSession.
    onnx_files = sorted(Path(key.model_dir).glob("*.onnx"))
    if not onnx_files:
        raise FaceEngineError(f"Model pack folder {key.model_dir} holds no .onnx files")

    import onnxruntime

    import_insightface_lightly()
    from insightface.model_zoo.model_zoo import ModelRouter

    onnxruntime.set_default_logger_severity(3)

    session_options = onnxruntime.SessionOptions()
    session_options.log_severity_level = 3
    if key.intra_op_threads > 0:
        session_options.intra_op_num_threads = key.intra_op_threads
    if not key.allow_spinning:  # idle intra-op threads sleep instead of busy-waiting for the next operator
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options = [dict(o) for o in key.options]

    found: dict[str, Any] = {}
    quiet = contextlib.redirect_stdout(io.StringIO())  # InsightFace prints every session it opens
    for onnx_file in onnx_files:
        task = _task_of(onnx_file)
        if task not in ALLOWED_MODULES or task in found:
            continue  # like FaceAnalysis: other tasks skipped, the first file of each task wins
        with quiet:
            found[task] = ModelRouter(str(onnx_file)).get_model(
                sess_options=session_options, providers=list(key.providers), provider_options=options
            )
    missing = [t for t in ALLOWED_MODULES if t not in found]
    if missing:
        raise FaceEngineError(f"Model pack folder {key.model_dir} has no {' or '.join(missing)} model")

    detector, recognizer = found["detection"], found["recognition"]
    # ctx_id >= 0 leaves the sessions' providers as we chose them (ctx_id < 0 would force CPU).
    with quiet:
        detector.prepare(0, input_size=(key.det_size, key.det_size), det_thresh=key.det_threshold)
        recognizer.prepare(0)
    if not detector.use_kps:
        raise FaceEngineError(
            f"Detector {detector.model_file} gives no landmarks; recognition needs them to align faces"
        )

    active: list[str] = []
    for model in (detector, recognizer):
        active += [p for p in model.session.get_providers() if p not in active]
    lost = [p for p in key.providers if p != CPU and p not in active]
    if lost:
        log.warning(f"ONNX Runtime could not start {lost} (see its log above); running on {active}")
    batch_coupled = _is_batch_coupled(recognizer.model_file)
    log.info(
        f"Loaded face models from {key.model_dir}: detector {Path(detector.model_file).name}, recognizer "
        f"{Path(recognizer.model_file).name} on {active}"
        + ("; recognizer is dynamically quantised, so faces are embedded one at a time" if batch_coupled else "")
    )
    return Models(detector, recognizer, batch_coupled, active)


def _task_of(onnx_file: Path) -> str | None:
    """InsightFace's task name for a model file, found with a cheap unoptimised CPU session.

    This avoids building (and, on MIGraphX, compiling) accelerator sessions for models we then throw away.
    """
    import onnxruntime

    import_insightface_lightly()
    from insightface.model_zoo.model_zoo import ModelRouter

    probe_options = onnxruntime.SessionOptions()
    probe_options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    probe_options.log_severity_level = 3
    with contextlib.redirect_stdout(io.StringIO()):
        model = ModelRouter(str(onnx_file)).get_model(sess_options=probe_options, providers=[CPU])
    return getattr(model, "taskname", None)


def _is_batch_coupled(onnx_file: str) -> bool:
    import onnx

    graph = onnx.load(onnx_file, load_external_data=False).graph
    return any(node.op_type in _BATCH_COUPLED_OPS for node in graph.node)
