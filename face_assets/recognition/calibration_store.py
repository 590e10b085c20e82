"""Where calibrations live: stored per model in `face_recognition_config` (`store_calibration`,
`load_calibration`, `apply_calibration` with the threshold settings it suggests), or shipped with the code in
face_assets/recognition/calibrations/<model>.json (`shipped_calibration`); `calibration_for` picks the one to use.
The likelihood model itself is in face_assets.recognition.calibration."""

from __future__ import annotations

import functools
import math
from pathlib import Path

from face_assets.db.sql_files import read_sql
from face_assets.recognition.calibration import Calibration
from face_assets.recognition.config import model_key

# How a calibration sets the threshold settings (`suggested_settings`, `--apply`, MODEL_DEFAULTS):
# - match_threshold (a candidate for review) at FAR 1e-4: a stranger's face is proposed for one of N creators with
#   probability ~N x 1e-4, under 1% up to 100 creators, so the review queue stays short;
# - auto_tag_threshold (a face seen well) at FAR 1e-6: a library holds ~10^5..10^6 (face, creator) comparisons per
#   thousand videos, so a face seen well must be a one-in-a-million impostor score.
# Each is rounded UP to a multiple of 0.05: never below the measured cut, and the deep tail rests on a few dozen
# pairs (its estimate is no finer than a few hundredths anyway).
# Clustering links chain (A~B, B~C joins A and C), so a link's false-accept rate adds up along a cluster: its
# threshold sits a decade stricter than a match's.
SETTING_FARS: dict[str, float] = {"match_threshold": 1e-4, "cluster_similarity": 1e-5, "auto_tag_threshold": 1e-6}
SETTING_STEP = 0.05

CONFIG_KEY_SUFFIX = "calibration"  # face_recognition_config key: "<model>.calibration"


def config_key(model: str) -> str:
    return f"{model_key(model)}.{CONFIG_KEY_SUFFIX}"


def load_calibration(conn, model: str) -> Calibration | None:
    """The calibration stored for `model` (a pack name or folder), or None."""
    row = conn.execute("SELECT value FROM face_recognition_config WHERE key = %s", (config_key(model),)).fetchone()
    return Calibration.from_json(row[0]) if row else None


# Calibrations measured for models the project ships defaults for (face-assets calibrate --report on a pair set,
# the report's "calibration" entry): used when a database has none stored for its model.
SHIPPED_DIR = Path(__file__).resolve().parent / "calibrations"


def shipped_calibration(model: str) -> Calibration | None:
    """The calibration shipped with the code for `model` (face_assets/recognition/calibrations/<model>.json), or
    None (e.g. buffalo_l: nobody measured it here yet)."""
    return _read_shipped(model_key(model))


@functools.lru_cache(maxsize=8)
def _read_shipped(key: str) -> Calibration | None:
    # Read once per process: the auto-tag rule asks for it on every batch, and the file only changes with the code.
    path = SHIPPED_DIR / f"{key}.json"
    return Calibration.from_json(path.read_text()) if path.exists() else None


def calibration_for(conn, model: str) -> Calibration | None:
    """The calibration to use for `model`: the one stored in the database (`--apply`), else the shipped one."""
    return load_calibration(conn, model) or shipped_calibration(model)


def suggested_settings(cal: Calibration) -> dict[str, float]:
    """The threshold settings `cal` measures (SETTING_FARS), rounded up to SETTING_STEP; those it cannot measure
    (too few impostor pairs) are left out."""
    out = {}
    for key, far in SETTING_FARS.items():
        t = cal.thresholds.get(far)
        if t is not None:
            out[key] = round(math.ceil(t / SETTING_STEP - 1e-9) * SETTING_STEP, 4)
    if "match_threshold" in out and out.get("auto_tag_threshold", 1.0) < out["match_threshold"]:
        out["auto_tag_threshold"] = out["match_threshold"]
    return out


def apply_calibration(conn, cal: Calibration) -> dict[str, float]:
    """Store `cal` and its suggested settings as per-model rows `<model>.<key>` (face_assets.recognition.config:
    a per-model row wins over MODEL_DEFAULTS). Returns the settings written."""
    settings = suggested_settings(cal)
    with conn.transaction():
        store_calibration(conn, cal)
        for key, value in settings.items():
            conn.execute(
                read_sql("recognition/store_calibration.sql"), {"key": f"{cal.model}.{key}", "value": f"{value:g}"}
            )
    return settings


def store_calibration(conn, cal: Calibration) -> None:
    """Store `cal` as its model's calibration (replacing the previous one), in one statement."""
    conn.execute(read_sql("recognition/store_calibration.sql"), {"key": config_key(cal.model), "value": cal.to_json()})
