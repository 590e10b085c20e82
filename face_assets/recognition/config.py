"""The tunable settings of face recognition, kept in the `face_recognition_config` table (key/value text).

All thresholds are cosine similarity: 1 - (a <=> b), pgvector's cosine distance; higher means more alike.

Thresholds depend on the recognition model (their similarity distributions differ), so the matching defaults live
per model in `MODEL_DEFAULTS`, the one place they are set in code. `RecognitionConfig.load(conn, model=...)` takes,
for each setting, the first of:

1. a per-model row `<model>.<key>` in the table (e.g. `buffalo_sc.auto_tag_threshold`): always a user's choice;
2. a plain row `<key>` whose value differs from what sql/face/schema.sql seeds (`SCHEMA_SEEDS`): a user's choice
   for every model. The schema seeds `match_threshold` and `auto_tag_threshold` before any model is known, so a
   row still holding its seed is a placeholder, not a choice; to pin a threshold to exactly the seed value for
   one model, use the per-model key;
3. `MODEL_DEFAULTS[model]` (models it does not name get `MODEL_DEFAULTS[FALLBACK_MODEL]`);
4. the dataclass defaults below.

The auto-tag rule that uses these values is in `face_assets.recognition.evidence`; for a model without a calibration
(stored with `calibrate --apply` or shipped in recognition/calibrations/) the match and auto-tag thresholds below are
its likelihood model (evidence.DefaultsLikelihood).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import psycopg

# Per-model defaults of the matching settings (cosine similarity). THE place these numbers live.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    # InsightFace buffalo_l: SCRFD-10G + ArcFace ResNet50 trained on WebFace600K (w600k_r50), fp32. NOT calibrated
    # here (no run of `face-assets calibrate` for it yet), so published figures: InsightFace's own buffalo_l
    # verification demo calls a pair "NOT the same person" below 0.20, "likely" from 0.20 and "the same person" from
    # 0.28 (github.com/deepinsight/insightface, web-demos/src_recognition/main.py); ArcFace's LFW threshold at
    # FAR = 0.1% is about 0.28 (github.com/ronny3050/AdvFaces issue #7). We match one face against every creator
    # (1:N, so false accepts add up over creators), hence: candidates for review from 0.30, just above the
    # verification point, and auto-tags only from 0.45 with two frames, or 0.55 in a single frame. Replace them by
    # a calibration (`face-assets calibrate --pairs ... --apply`, or a shipped calibrations/buffalo_l.json).
    "buffalo_l": {
        "match_threshold": 0.30,
        "auto_tag_threshold": 0.45,
        "auto_tag_min_frames": 2,
        "auto_tag_margin": 0.10,
    },
    # The fixture pack buffalo_sc: SCRFD-500M + int8 dynamic quantisation of ArcFace MobileFaceNet (w600k_mbf).
    # CALIBRATED: `face-assets calibrate --pairs lfw_dev/pairs.txt --images lfw_dev/images` through FaceEngine
    # (2026-11-30; face_assets/recognition/calibrations/buffalo_sc.json): LFW-format accuracy 0.9920 (10-fold CV over
    # 2,122 pairs), 11 of 4,829 photos without a face; every pair of photos: 7,058 genuine, 11,597,095 impostor.
    # Thresholds (TAR): FAR 1e-2 0.182 (0.997), 1e-3 0.244 (0.995), 1e-4 0.300 (0.993), 1e-5 0.352 (0.981),
    # 1e-6 0.438 (0.918). The settings follow calibration_store.SETTING_FARS (rounded up to 0.05):
    # match_threshold = FAR 1e-4 -> 0.30, auto_tag_threshold = FAR 1e-6 -> 0.45
    # (calibration_store.suggested_settings; a test keeps them in step). auto_tag_min_frames and auto_tag_margin are
    # the frame rule's, not measured.
    # Video frames agree (fixture library, profile picture vs video face >= 64 px, one frame every 0.5 s of the 13
    # fixture videos): different people n=2301, max 0.250; true (video, creator) best faces 0.615-0.781.
    "buffalo_sc": {
        "match_threshold": 0.30,
        "auto_tag_threshold": 0.45,
        "auto_tag_min_frames": 2,
        "auto_tag_margin": 0.10,
    },
}
# Where each model's MODEL_DEFAULTS come from (shown with the settings; the calibration itself, if any, is
# face_assets/recognition/calibrations/<model>.json).
MODEL_DEFAULTS_SOURCE: dict[str, str] = {
    "buffalo_l": "published figures (InsightFace demo, ArcFace LFW FAR 0.1%); not calibrated",
    "buffalo_sc": "face-assets calibrate on lfw_dev (2026-11-30): FAR 1e-4 / 1e-6 thresholds, rounded up to 0.05",
}
FALLBACK_MODEL = "buffalo_l"

# What sql/face/schema.sql seeds into face_recognition_config before any model is known (kept in step by a test).
SCHEMA_SEEDS: dict[str, str] = {
    "match_threshold": "0.5",
    "auto_tag_threshold": "0.7",
    "frames_per_video": "5",
    "min_face_size": "64",
    "enabled": "true",
}


@dataclass(frozen=True)
class RecognitionConfig:
    match_threshold: float = 0.5  # at or above: a candidate match, queued for review ('pending')
    auto_tag_threshold: float = 0.7  # a face seen well (evidence.DefaultsLikelihood, without a calibration)
    auto_tag_min_frames: int = 2  # strong faces in this many distinct frames tag the video...
    auto_tag_margin: float = 0.10  # ...or one face at auto_tag_threshold + auto_tag_margin does
    # The fusion rule (face_assets.recognition.evidence): a video is tagged when its faces' fused evidence makes a
    # false tag at most this likely (per video, over all creators); frames of one video correlate this much.
    auto_tag_max_false_rate: float = 0.01
    evidence_frame_correlation: float = 0.5  # Kish's rho: n frames count as at most 1/rho independent looks
    learn_max_per_creator: int = 20  # references learned automatically per creator (faces of strong tags)
    frames_per_video: int = 5
    min_face_size: int = 64  # px, the shorter side of the face box
    min_detection_score: float = 0.5
    enabled: bool = True
    model: str | None = None  # the model whose defaults applied (None: none known)

    @classmethod
    def load(cls, conn: psycopg.Connection, model: str | None = None) -> RecognitionConfig:
        """Typed values for `model` (default: FACE_ASSETS_MODEL); see the module docstring for the precedence."""
        if model is None:
            from face_assets import settings

            model = settings.model_name()
        model = model_key(model)
        rows = dict(conn.execute("SELECT key, value FROM face_recognition_config").fetchall())
        defaults = MODEL_DEFAULTS.get(model, MODEL_DEFAULTS[FALLBACK_MODEL])
        values: dict[str, Any] = {"model": model}
        for f in fields(cls):
            if f.name == "model":
                continue
            raw = rows.get(f"{model}.{f.name}")
            if (
                raw is None
                and f.name in rows
                and (f.name not in defaults or rows[f.name].strip() != SCHEMA_SEEDS.get(f.name))
            ):
                raw = rows[f.name]
            if raw is not None:
                values[f.name] = _parse(f.type, raw)
            elif f.name in defaults:
                values[f.name] = defaults[f.name]
        return cls(**values)

    def for_model(self, model: str) -> RecognitionConfig:
        """These values with `model`'s code defaults for the matching settings (no table involved)."""
        defaults = MODEL_DEFAULTS.get(model_key(model), MODEL_DEFAULTS[FALLBACK_MODEL])
        return replace(self, model=model_key(model), **defaults)


def model_key(model: str) -> str:
    """The pack name of `model`, which may be a pack folder path (FaceEngine accepts both)."""
    return Path(model).name if ("/" in model or model.startswith("~")) else model


def _parse(type_: Any, raw: str) -> Any:
    if type_ in (bool, "bool"):
        return raw.strip().lower() in ("true", "1", "yes")
    if type_ in (int, "int"):
        return int(raw)
    if type_ in (float, "float"):
        return float(raw)
    return raw
