"""The tunable settings of face recognition, kept in the `face_recognition_config` table (key/value text).

All thresholds are cosine similarity: 1 - (a <=> b), pgvector's cosine distance; higher means more alike.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import psycopg


@dataclass(frozen=True)
class RecognitionConfig:
    match_threshold: float = 0.5        # at or above: a candidate match, queued for review
    auto_tag_threshold: float = 0.7     # evidence above this (see matching) tags the video automatically
    frames_per_video: int = 5
    min_face_size: int = 64             # px, the shorter side of the face box
    min_detection_score: float = 0.5
    enabled: bool = True

    @classmethod
    def load(cls, conn: psycopg.Connection) -> "RecognitionConfig":
        """Typed values from the table; keys it lacks keep the defaults above."""
        rows = dict(conn.execute("SELECT key, value FROM face_recognition_config").fetchall())
        values = {}
        for f in fields(cls):
            if f.name in rows:
                raw = rows[f.name]
                values[f.name] = raw.strip().lower() in ("true", "1", "yes") if f.type in (bool, "bool") else (
                    int(raw) if f.type in (int, "int") else float(raw))
        return cls(**values)
