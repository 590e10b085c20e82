"""Age and gender of a face, from the model pack's genderage model, for the legacy app's face service only.

InsightFace packs such as buffalo_l and antelopev2 ship `genderage.onnx`, which the engine skips (models.ALLOWED_MODULES:
the pipeline needs only the detector and the recognizer, and pays for nothing else). The face service
(face_assets.web.face_service) loads it beside the engine, on its first request, from the pack folder the engine
resolved: `genderage_model` finds it and wraps it in InsightFace's own Attribute class (the pack's model as the legacy
service ran it through FaceAnalysis), so the crop (the box's centre, 1.5 times its longer side, 96x96), the
normalisation and the reading of the output (gender = argmax of the logits [F, M], age = round(100 * output 3)) are
InsightFace's. A pack without one (the fixture pack buffalo_sc) gives None: age and gender stay unknown.

The model is tiny (96x96 input, about 1 MB), so it runs on the CPU whatever the engine's providers: no GPU graph
compilation (minutes under MIGraphX) for a millisecond per face.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from dagster import get_dagster_logger

from face_assets.engine.models import _task_of, import_insightface_lightly
from face_assets.engine.providers import CPU

log = get_dagster_logger(__name__)

GENDERAGE = "genderage"  # InsightFace's task name for the model (model_zoo: 96x96 input, 3 outputs)
GENDERS = ("F", "M")  # InsightFace's gender: the argmax of the two logits, 0 female, 1 male (the legacy "M"/"F")


@dataclass(frozen=True)
class GenderAge:
    age: int  # years
    gender: str  # "M" or "F"


class _Face(dict):
    """What InsightFace's Attribute.get reads (`.bbox`) and writes (`face["gender"]`, `face["age"]`)."""

    def __init__(self, bbox: Sequence[float]):
        super().__init__()
        self.bbox = np.asarray(bbox, dtype=np.float32)


class GenderAgeModel:
    """A pack's genderage model (an insightface.model_zoo.Attribute over a CPU session); thread-safe."""

    def __init__(self, attribute: Any):
        self.attribute = attribute
        self.model_file = Path(attribute.model_file)

    def predict(self, image: np.ndarray, bbox: Sequence[float]) -> GenderAge:
        """Age and gender of the face in `bbox` (x1, y1, x2, y2, pixels of `image`) of a BGR image."""
        gender, age = self.attribute.get(image, _Face(bbox))
        return GenderAge(age=int(age), gender=GENDERS[int(gender)])


_CACHE: dict[str, GenderAgeModel | None] = {}
_CACHE_LOCK = threading.Lock()


def find_genderage(model_dir: Path | str, skip: Iterable[str] = ()) -> Path | None:
    """The pack's genderage model file, or None: a `genderage*.onnx` first, else the first .onnx whose task
    InsightFace's model_zoo says is genderage. Files named in `skip` (the engine's detector and recognizer) are not
    probed, so a pack without one (buffalo_sc) costs no session at all."""
    files = sorted(Path(model_dir).glob("*.onnx"))
    skipped = set(skip)
    named = [f for f in files if f.name.lower().startswith(GENDERAGE)]
    others = [f for f in files if f not in named and f.name not in skipped]
    for onnx_file in named + others:
        try:
            if _task_of(onnx_file) == GENDERAGE:
                return onnx_file
        except Exception as exc:  # a file ONNX Runtime cannot open is not the genderage model
            log.warning(f"Could not read {onnx_file} while looking for a genderage model: {exc}")
    return None


def load_genderage(onnx_file: Path | str, intra_op_threads: int = 0) -> GenderAgeModel:
    """InsightFace's Attribute over a CPU session of `onnx_file`; ValueError when it is not a genderage model."""
    import onnxruntime

    import_insightface_lightly()
    from insightface.model_zoo.model_zoo import ModelRouter

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if intra_op_threads > 0:
        options.intra_op_num_threads = intra_op_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as the engine: a shared CPU
    with contextlib.redirect_stdout(io.StringIO()):  # InsightFace prints every session it opens
        model = ModelRouter(str(onnx_file)).get_model(sess_options=options, providers=[CPU])
        if getattr(model, "taskname", None) != GENDERAGE:
            raise ValueError(f"{onnx_file} is not a genderage model (InsightFace reads it as {model!r})")
    return GenderAgeModel(model)


def genderage_model(
    model_dir: Path | str, skip: Iterable[str] = (), intra_op_threads: int = 0
) -> GenderAgeModel | None:
    """The pack's genderage model, loaded on first use and kept for the process; None when the pack has none (or it
    cannot be loaded: age and gender are then unknown, said once in the log, and detection goes on)."""
    key = str(Path(model_dir).resolve())
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        model = None
        onnx_file = find_genderage(key, skip)
        if onnx_file is not None:
            try:
                model = load_genderage(onnx_file, intra_op_threads)
                log.info(f"Loaded the age/gender model {onnx_file} (CPU), for the face service")
            except Exception as exc:
                log.warning(f"Could not load the age/gender model {onnx_file}; age and gender stay unknown: {exc}")
        _CACHE[key] = model
        return model
