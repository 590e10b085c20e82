"""Reading and changing the settings of face_recognition_config as the review app's config endpoint offers them.

The values are RecognitionConfig's (face_assets.recognition.config, which owns the precedence). A change to a
matching threshold (those MODEL_DEFAULTS sets per model) is stored under the per-model key `<model>.<key>`, the one
that always wins for that model; any other setting under its plain key. Validation is the caller's (the API's
pydantic model); `save` checks only the rule that spans two settings, on the values that would result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import psycopg

from face_assets.recognition.config import FALLBACK_MODEL, MODEL_DEFAULTS, RecognitionConfig

EDITABLE = (
    "match_threshold",
    "auto_tag_threshold",
    "auto_tag_min_frames",
    "auto_tag_margin",
    "frames_per_video",
    "min_face_size",
    "min_detection_score",
    "enabled",
)
PER_MODEL = frozenset(MODEL_DEFAULTS[FALLBACK_MODEL])


class ConfigError(ValueError):
    """The settings that would result break a rule; nothing was written."""


def current(conn: psycopg.Connection, model: str | None = None) -> dict[str, Any]:
    config = RecognitionConfig.load(conn, model)
    values = asdict(config)
    return {"model": values.pop("model"), **{k: values[k] for k in EDITABLE}}


def save(conn: psycopg.Connection, changes: Mapping[str, Any], model: str | None = None) -> dict[str, Any]:
    """Store `changes` (keys of EDITABLE); the settings after the change. In the caller's transaction."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ConfigError("unknown setting(s): " + ", ".join(unknown))
    before = current(conn, model)
    after = {**before, **changes}
    if after["auto_tag_threshold"] < after["match_threshold"]:
        raise ConfigError(
            f"auto_tag_threshold ({after['auto_tag_threshold']}) must be >= match_threshold ({after['match_threshold']})"
        )
    for key, value in changes.items():
        stored = (
            str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, float) else str(value)
        )
        name = f"{before['model']}.{key}" if key in PER_MODEL and before["model"] else key
        conn.execute(
            "INSERT INTO face_recognition_config (key, value, updated_at) VALUES (%s, %s, CURRENT_TIMESTAMP)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
            (name, stored),
        )
    return current(conn, model)
