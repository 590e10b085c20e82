"""Who is in a photo, and teaching the app a creator's face: the design's recognize and enrolment calls.

- `recognize`: each face of a photo, its best creators (creator embeddings' HNSW index) and the videos where the
  nearest stored faces are (faces' HNSW index; with a `scope`, a library root or path prefix, pgvector's iterative
  index scan keeps the filter from starving the result).
- `train_creator`: re-embed a creator's pictures (profile picture and reference folder) and re-match the faces whose
  match can change (matching.rematch_changed).
- `add_reference`: a photo becomes a reference image of a creator (saved as a plain JPEG in the creator's reference
  folder, $FACE_ASSETS_HOME/reference/<creator id>/), then `train_creator`.
- `remove_reference`: a known face goes: a confirmed video face is rejected for the creator (review.reject), an
  uploaded reference image is deleted from the folder; a profile picture is changed in the video app, not here.

Plain functions of a connection and a face engine (anything with `detect(images) -> list[list[face]]`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from face_assets.db.sql_files import read_sql
from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.timeline import appearances_of_faces
from face_assets.review.decisions import Outcome, ReviewError, ReviewNotFound

CREATORS_SHOWN = 5
FACES_K = 100  # nearest stored faces looked at per photo face
CREATOR_K = 50  # nearest creator embeddings looked at per photo face
EF_SEARCH = 200


class NoFace(ReviewError):
    """The photo has no face the detector finds."""


@dataclass
class RecognizedFace:
    bbox: list[float]  # x, y, width, height in pixels of the (upright) photo
    detection_score: float
    creators: list[dict] = field(default_factory=list)  # best first: creator_id, creator, similarity, is_match
    videos: list[dict] = field(default_factory=list)  # video_id, video, similarity, faces, best_detection_id,
    # appearances (who the nearest face's track is and when they are on screen there, or None)

    def as_json(self) -> dict[str, Any]:
        return {
            "bbox": self.bbox,
            "detection_score": self.detection_score,
            "creators": self.creators,
            "videos": self.videos,
        }


def scope_video_ids(conn: psycopg.Connection, scope: str | None) -> list[int] | None:
    """The ids of the videos under `scope` (a library root or path prefix); None for no scope."""
    if scope is None or not scope.strip():
        return None
    return [r[0] for r in conn.execute(read_sql("review/scope_videos.sql"), {"prefix": scope.strip()})]


def recognize(
    conn: psycopg.Connection,
    engine,
    image_bgr: np.ndarray,
    *,
    config: RecognitionConfig | None = None,
    scope: str | None = None,
    videos: int = 20,
) -> list[RecognizedFace]:
    """Every face of the photo with its best creators and the videos of the nearest stored faces. A photo in which
    the detector finds no face at first gets the engine's second pass (FaceEngine.detect_pictures)."""
    return recognize_faces(conn, detect_photo(engine, image_bgr), config=config, scope=scope, videos=videos)


def detect_photo(engine, image_bgr: np.ndarray) -> list:
    """The faces of one photo: `engine.detect_pictures` (the second pass for a photo without a face at first) where
    the engine has it, else `engine.detect`."""
    detect = getattr(engine, "detect_pictures", None) or engine.detect
    return detect([image_bgr])[0]


def recognize_faces(
    conn: psycopg.Connection,
    faces: list,
    *,
    config: RecognitionConfig | None = None,
    scope: str | None = None,
    videos: int = 20,
) -> list[RecognizedFace]:
    """`recognize` for faces already found (the web app runs the model in its bounded inference pool, then this)."""
    config = config or RecognitionConfig.load(conn)
    video_ids = scope_video_ids(conn, scope)
    out: list[RecognizedFace] = []
    with conn.transaction():
        conn.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
            (str(EF_SEARCH),),
        )
        for face in sorted(faces, key=lambda f: -float(f.det_score)):
            x1, y1, x2, y2 = (float(v) for v in face.bbox)
            embedding = np.asarray(face.embedding, dtype=np.float32)
            result = RecognizedFace(
                [round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1)], round(float(face.det_score), 4)
            )
            for creator_id, name, similarity in conn.execute(
                read_sql("review/recognize_creators.sql"),
                {"embedding": embedding, "k": CREATOR_K, "limit": CREATORS_SHOWN},
                prepare=False,
            ):
                result.creators.append(
                    {
                        "creator_id": creator_id,
                        "creator": name,
                        "similarity": round(float(similarity), 4),
                        "is_match": float(similarity) >= config.match_threshold,
                    }
                )
            if video_ids is None or video_ids:
                by_video: dict[int, dict] = {}
                for fid, vid, title, similarity, _status, _cid, _cname in conn.execute(
                    read_sql("review/recognize_faces.sql"),
                    {
                        "embedding": embedding,
                        "video_ids": video_ids,
                        "k": FACES_K,
                        "similarity": config.match_threshold,
                    },
                    prepare=False,
                ):
                    entry = by_video.setdefault(
                        vid, {"video_id": vid, "video": title, "similarity": 0.0, "faces": 0, "best_detection_id": fid}
                    )
                    entry["faces"] += 1
                    if float(similarity) > entry["similarity"]:
                        entry["similarity"], entry["best_detection_id"] = round(float(similarity), 4), fid
                result.videos = sorted(by_video.values(), key=lambda v: -v["similarity"])[:videos]
            out.append(result)
    # When the person of each video's nearest face is on screen there (face_appearances; [] before it is computed).
    found = appearances_of_faces(conn, [v["best_detection_id"] for f in out for v in f.videos])
    for f in out:
        for v in f.videos:
            v["appearances"] = found.get(v["best_detection_id"])
    return out


# --- enrolment ------------------------------------------------------------------------------------------------------


def _creator_name(conn: psycopg.Connection, creator_id: int) -> str:
    row = conn.execute("SELECT name FROM creators WHERE id = %s", (creator_id,)).fetchone()
    if row is None:
        raise ReviewNotFound(f"no creator with id {creator_id}")
    from face_assets.review.forget import refuse_forgotten

    refuse_forgotten(conn, [creator_id])  # a forgotten creator is not trained, nor given reference photos
    return row[0]


def train_creator(
    conn: psycopg.Connection, engine, creator_id: int, config: RecognitionConfig | None = None
) -> Outcome:
    """Re-embed creator `creator_id`'s pictures and re-match the faces whose match can change. Commits."""
    from face_assets.recognition.embeddings import sync_creator_embeddings
    from face_assets.recognition.matching import ensure_schema, rematch_changed

    config = config or RecognitionConfig.load(conn)
    name = _creator_name(conn, creator_id)
    ensure_schema(conn)
    conn.execute(read_sql("review/forget_picture_prints.sql"), {"id": creator_id})
    conn.commit()
    summary = sync_creator_embeddings(conn, engine, model=config.model)
    issues = [i for i in summary.issues if i.creator_id == creator_id]
    known = conn.execute(
        "SELECT count(*) FROM creator_face_embeddings WHERE creator_id = %s", (creator_id,)
    ).fetchone()[0]
    outcome = Outcome(creator_id=creator_id)
    outcome.decisions.append(f"{name!r} ({creator_id}): {known} known face(s) after re-embedding the pictures")
    for issue in issues:
        outcome.decisions.append(f"picture {Path(issue.source_path).name}: {issue.reason}")
    if config.enabled:
        result = rematch_changed(conn, config)
        outcome.rematched_faces = result.match.faces if result.match is not None else 0
        outcome.decisions.append(f"re-match: {result.mode} ({result.reason})")
    conn.commit()
    return outcome


def add_reference(
    conn: psycopg.Connection,
    engine,
    creator_id: int,
    image_bgr: np.ndarray,
    jpeg: bytes,
    config: RecognitionConfig | None = None,
    root: Path | None = None,
) -> Outcome:
    """A photo with a face becomes a reference image of the creator; re-embeds and re-matches at once. Commits."""
    from face_assets.recognition.embeddings import reference_root

    name = _creator_name(conn, creator_id)
    if not detect_photo(engine, image_bgr):  # as the reference's embedding will find it
        raise NoFace("no face found in the photo; nothing was saved")
    folder = (root or reference_root()) / str(creator_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"upload-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}.jpg"
    path.write_bytes(jpeg)
    outcome = train_creator(conn, engine, creator_id, config)
    outcome.decisions.insert(0, f"saved the photo as a reference image of {name!r} ({creator_id}): {path.name}")
    return outcome


def remove_reference(
    conn: psycopg.Connection,
    creator_id: int,
    embedding_id: int,
    config: RecognitionConfig | None = None,
    root: Path | None = None,
) -> Outcome:
    """Known face `embedding_id` of the creator goes (see the module docstring)."""
    from face_assets.recognition.embeddings import reference_root
    from face_assets.review import decisions as review

    row = conn.execute(
        "SELECT source_type, source_path FROM creator_face_embeddings WHERE id = %s AND creator_id = %s",
        (embedding_id, creator_id),
    ).fetchone()
    if row is None:
        raise ReviewNotFound(f"creator {creator_id} has no known face {embedding_id}")
    source_type, source_path = row
    if source_type == "video_frame":
        detection = int(source_path.split(":", 1)[1])
        return review.reject(conn, [detection], config)
    if source_type == "profile_picture":
        raise ReviewError("a profile picture is changed in the video app; its face stays while it is the picture")
    folder = ((root or reference_root()) / str(creator_id)).resolve()
    path = Path(source_path).resolve()
    if folder not in path.parents:
        raise ReviewError("that reference image is not in the creator's reference folder")
    path.unlink(missing_ok=True)
    conn.execute("DELETE FROM creator_face_embeddings WHERE id = %s", (embedding_id,))
    outcome = Outcome(creator_id=creator_id, decisions=[f"removed reference image {path.name} of creator {creator_id}"])
    config = config or RecognitionConfig.load(conn)
    if config.enabled:
        from face_assets.recognition.matching import rematch_changed

        result = rematch_changed(conn, config)
        outcome.rematched_faces = result.match.faces if result.match is not None else 0
    return outcome
