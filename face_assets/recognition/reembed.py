"""Changing a database's model (`face-assets reembed --model NAME`): every face and creator re-embedded, decisions kept.

The steps (the Dagster wiring is face_assets.defs.faces.reembed; the command is face_assets.cli.reembed):

1. `start_change` records the target pack (`face_model_change`). Nothing else changes: the pipeline, the review app
   and the sensors go on with the current model meanwhile.
2. `stage_videos`, a video at a time (the asset `reembedded_faces`, partitioned by video): each stored face is
   embedded by the new model and kept aside in `face_embeddings_next`, with the place (frame, box) it was embedded
   for. The faces themselves stay as they are: their ids, boxes, statuses, clusters and every decision keyed by them
   (confirmed, rejected and assigned faces, vetoes, links, exclusions, named clusters). A face is aligned with the
   landmarks of the new detector's face on the same frame that overlaps its box most (IoU >= 0.5); when the new
   detector misses it there, with those found on a crop around the box (at other detector sizes); else with landmarks
   placed in the box as ArcFace's template puts them. Resumable: a video whose faces are all staged for their current
   place is not embedded again, and a face re-detected meanwhile is.
3. `switch_model` embeds what is left (faces added since), the creators' pictures, then in one transaction: every
   face and every known face taken from a video face gets its new embedding, picture embeddings are replaced (those
   the new model finds no face in, or whose file is gone, are removed and listed), and `face_model` names the new
   model. The writers of embeddings hold the record share-locked (model_record.claim_model), so the switch waits for
   the writes in flight, and a write of the old model after it is refused.
4. `refresh_after_switch`: a calibration from the library's decisions with the new embeddings (applied when there
   are enough; else the shipped calibration or the model's defaults apply, and it says so), every undecided face
   matched again (statuses, auto-tags), and a full clustering run (named, merged and ignored clusters kept).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from face_assets.db.sql_files import read_sql
from face_assets.recognition.embeddings import (
    FILE_NOT_FOUND,
    NO_FACE,
    NOT_AN_IMAGE,
    Issue,
    PictureSource,
    collect_sources,
    decode_image,
    fingerprint,
    picture_embeddings,
    record_issues,
    stat_part,
)
from face_assets.recognition.model_record import ModelIdentity, RecordedModel, recorded_model

IOU_MIN = 0.5  # a new detection is the stored face when their boxes overlap this much (as re-detection matches)
CROP_IOU_MIN = 0.3  # on a crop around the box (another input size: boxes differ more)
CROP_MARGIN = 0.6  # the crop around a box the detector missed: this share of the box's longer side on each side
RECOGNIZER_SIZE = 112  # ArcFace's aligned face (every InsightFace recognizer)
# ArcFace's landmark template in its 112 x 112 aligned face (insightface.utils.face_align.arcface_dst), as shares of
# the face box: where the eyes, nose and mouth corners are placed when no detector finds the face again.
_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
) / float(RECOGNIZER_SIZE)
LANDMARKS = ("frame", "crop", "box")


class NoChange(RuntimeError):
    """No change of model is in progress, or another one than the caller's."""


class ReembedIncomplete(RuntimeError):
    """Faces the new model could not embed (their frame files are missing): the switch does not happen."""


@dataclass(frozen=True)
class Change:
    name: str
    fingerprint: str
    folder: str
    started_at: datetime | None = None

    @property
    def model(self) -> ModelIdentity:
        return ModelIdentity(self.name, self.fingerprint, self.folder)


# --- the change ----------------------------------------------------------------------------------------------------


def pending_change(conn: psycopg.Connection) -> Change | None:
    if conn.execute("SELECT to_regclass('face_model_change')").fetchone()[0] is None:
        return None
    row = conn.execute(read_sql("model/change.sql")).fetchone()
    return Change(*row) if row else None


def start_change(conn: psycopg.Connection, target: ModelIdentity) -> tuple[Change, bool]:
    """Record `target` (a pack on this machine) as the model to change to; (the change, whether it resumes one
    started before for the same pack: its staged faces are kept). Another target starts over. Commits."""
    from face_assets.db.schema_upgrade import upgrade

    if not (target.fingerprint and target.folder):
        raise ValueError(f"model pack {target.name} is not on this machine: nothing to embed with")
    upgrade(conn)
    with conn.transaction():
        conn.execute(read_sql("recognition/lock.sql"), {"name": "face_assets.model_change"})
        current = pending_change(conn)
        resumed = current is not None and current.fingerprint == target.fingerprint
        if not resumed:
            conn.execute("TRUNCATE face_embeddings_next")
        conn.execute(
            read_sql("model/start_change.sql"),
            {"name": target.name, "fingerprint": target.fingerprint, "folder": target.folder},
        )
        if resumed:  # the folder may have moved; the start time is the first start's
            conn.execute("UPDATE face_model_change SET started_at = %s", (current.started_at,))
        change = pending_change(conn)
    conn.commit()
    return change, resumed


def cancel_change(conn: psycopg.Connection) -> Change | None:
    """Give up the change in progress (what was staged goes); the change given up, or None. Commits."""
    change = pending_change(conn)
    if change is not None:
        with conn.transaction():
            conn.execute("DELETE FROM face_model_change")
            conn.execute("TRUNCATE face_embeddings_next")
    conn.commit()
    return change


def videos_to_embed(conn: psycopg.Connection, video_ids: Sequence[int] | None = None) -> list[int]:
    """The videos holding a face not yet embedded by the new model for its current place."""
    ids = None if video_ids is None else [int(v) for v in video_ids]
    return [r[0] for r in conn.execute(read_sql("model/videos_to_embed.sql"), {"video_ids": ids})]


def progress(conn: psycopg.Connection) -> dict[str, int]:
    """{faces, embedded, videos_left} of the change in progress."""
    faces, embedded, videos_left = conn.execute(read_sql("model/progress.sql")).fetchone()
    return {"faces": int(faces), "embedded": int(embedded), "videos_left": int(videos_left)}


# --- embedding the stored faces again --------------------------------------------------------------------------------


@dataclass
class StagedVideo:
    video_id: int
    faces: int = 0
    landmarks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LANDMARKS, 0))
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class _Face:
    detection_id: int
    video_id: int
    frame_index: int
    box: tuple[float, float, float, float]  # x, y, width, height as stored
    frame_path: str | None


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two x, y, w, h boxes (face_assets.video.timeline has its own: the domains stand
    apart)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    inter = max(w, 0.0) * max(h, 0.0)
    return inter / (aw * ah + bw * bh - inter) if inter > 0 else 0.0


def _clipped(bbox, width: int, height: int) -> tuple[float, float, float, float]:
    """x1, y1, x2, y2 -> x, y, w, h inside the frame (as face_detections stores boxes)."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    x1, x2 = min(max(x1, 0.0), float(width)), min(max(x2, 0.0), float(width))
    y1, y2 = min(max(y1, 0.0), float(height)), min(max(y2, 0.0), float(height))
    return x1, y1, max(x2 - x1, 0.0), max(y2 - y1, 0.0)


def _best(found: Sequence, box, width: int, height: int, offset=(0.0, 0.0), minimum: float = IOU_MIN):
    """The found face whose box (shifted by `offset`, clipped to width x height) overlaps `box` most, if enough."""
    best, best_iou = None, minimum
    for face in found:
        x1, y1, x2, y2 = face.bbox
        shifted = (x1 + offset[0], y1 + offset[1], x2 + offset[0], y2 + offset[1])
        iou = _iou(_clipped(shifted, width, height), box)
        if iou >= best_iou:
            best, best_iou = face, iou
    return best


def _box_landmarks(box: tuple[float, float, float, float]) -> np.ndarray:
    x, y, w, h = box
    return (_TEMPLATE * np.array([w, h], dtype=np.float32) + np.array([x, y], dtype=np.float32)).astype(np.float32)


def embed_faces(engine, image: np.ndarray, boxes: Sequence[tuple[float, float, float, float]], found=None):
    """(embedding, landmark source) for each stored box of one frame; `found`: the engine's faces of the frame, when
    the caller detected them already (a video's frames go through `engine.detect` together)."""
    from insightface.utils import face_align

    height, width = image.shape[:2]
    if found is None:
        found = engine.detect([image])[0]
    out: list[tuple[np.ndarray, str] | None] = [None] * len(boxes)
    for i, box in enumerate(boxes):
        face = _best(found, box, width, height)
        if face is not None:
            out[i] = (np.asarray(face.embedding, dtype=np.float32), "frame")
    missing = [i for i, o in enumerate(out) if o is None]
    if missing:
        crops, offsets = [], []
        for i in missing:
            x, y, w, h = boxes[i]
            margin = CROP_MARGIN * max(w, h)
            x1, y1 = int(max(0, np.floor(x - margin))), int(max(0, np.floor(y - margin)))
            x2, y2 = int(min(width, np.ceil(x + w + margin))), int(min(height, np.ceil(y + h + margin)))
            crops.append(np.ascontiguousarray(image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]))
            offsets.append((float(x1), float(y1)))
        detect = getattr(engine, "detect_pictures", None) or engine.detect
        for i, faces, offset in zip(missing, detect(crops), offsets):
            face = _best(faces, boxes[i], width, height, offset, CROP_IOU_MIN)
            if face is not None:
                out[i] = (np.asarray(face.embedding, dtype=np.float32), "crop")
    missing = [i for i, o in enumerate(out) if o is None]
    if missing:
        aligned = [
            face_align.norm_crop(image, landmark=_box_landmarks(boxes[i]), image_size=RECOGNIZER_SIZE) for i in missing
        ]
        for i, embedding in zip(missing, engine.embed_crops(aligned)):
            out[i] = (np.asarray(embedding, dtype=np.float32), "box")
    return out


def _faces_of(conn: psycopg.Connection, video_ids: Sequence[int]) -> dict[int, list[_Face]]:
    faces: dict[int, list[_Face]] = {int(v): [] for v in video_ids}
    for video_id, det_id, frame_index, x, y, w, h, path in conn.execute(
        read_sql("model/video_faces.sql"), {"video_ids": [int(v) for v in video_ids]}
    ):
        faces[video_id].append(_Face(det_id, video_id, frame_index, (x, y, w, h), path))
    return faces


def _embed_video(engine, faces: list[_Face], result: StagedVideo) -> list[tuple]:
    import cv2

    frames: dict[int, list[_Face]] = {}
    for face in faces:
        frames.setdefault(face.frame_index, []).append(face)
    images = []
    for frame_index, on_frame in frames.items():
        path = on_frame[0].frame_path
        image = cv2.imread(path, cv2.IMREAD_COLOR) if path and Path(path).is_file() else None
        if image is None:
            raise FileNotFoundError(
                f"frame {frame_index} ({path or 'no video_frames row'}) is missing or unreadable: materialize "
                "sampled_frames for this video (the same frames again), then re-embed"
            )
        images.append(image)
    rows = []
    for image, found, on_frame in zip(images, engine.detect(images), frames.values()):
        for face, (embedding, source) in zip(on_frame, embed_faces(engine, image, [f.box for f in on_frame], found)):
            rows.append((face.detection_id, face.video_id, face.frame_index, *face.box, embedding, source))
            result.landmarks[source] += 1
    return rows


def stage_videos(
    conn: psycopg.Connection,
    engine,
    change: Change,
    video_ids: Sequence[int],
    log: Callable[[str], None] | None = None,
    *,
    commit: bool = True,
) -> list[StagedVideo]:
    """Embed the faces of `video_ids` with `engine` (the pack of `change`) and stage them, one transaction per video
    (`commit=False`: savepoints of the caller's transaction); a video that cannot be embedded (its frame files are
    missing) gets its error and the others go on. NoChange when the change in progress is not `change` any more
    (nothing is written then)."""
    say = log or (lambda message: None)
    faces = _faces_of(conn, video_ids)
    if commit:
        conn.commit()
    results = []
    for video_id in [int(v) for v in video_ids]:
        result = StagedVideo(video_id)
        started = time.perf_counter()
        try:
            rows = _embed_video(engine, faces[video_id], result)
        except (FileNotFoundError, ValueError) as exc:
            result.error = str(exc)
            results.append(result)
            say(f"video {video_id}: {exc}")
            continue
        with conn.transaction():
            current = conn.execute(read_sql("model/change.sql").rstrip().rstrip(";") + " FOR SHARE").fetchone()
            if current is None or current[1] != change.fingerprint:
                raise NoChange(
                    f"the change to {change.name} is no longer in progress"
                    + (f" (now: to {current[0]})" if current else "")
                    + ": nothing was staged"
                )
            conn.execute(read_sql("model/stage_create.sql"))
            with conn.cursor() as cur, cur.copy(read_sql("model/stage_copy.sql")) as copy:
                copy.set_types(["int4", "int4", "int4", "float4", "float4", "float4", "float4", "vector", "text"])
                for row in rows:
                    copy.write_row(row)
            conn.execute(read_sql("model/stage_forget.sql"), {"video_ids": [video_id]})
            result.faces = conn.execute(read_sql("model/stage_faces.sql")).rowcount
        if commit:
            conn.commit()
        result.seconds = time.perf_counter() - started
        results.append(result)
        say(
            f"video {video_id}: {result.faces} faces embedded by {change.name} (landmarks: "
            + ", ".join(f"{n} from the {k}" for k, n in result.landmarks.items() if n)
            + ")"
            if result.faces
            else f"video {video_id}: no face"
        )
    return results


# --- creators' pictures ------------------------------------------------------------------------------------------------


def embed_pictures(
    conn: psycopg.Connection, engine, model: str, root: Path | None = None, batch_size: int = 16
) -> tuple[list[tuple[PictureSource, str, float, np.ndarray]], list[Issue]]:
    """Every creator picture (profile pictures, reference images) embedded by `engine`: (source, fingerprint, detection
    score, embedding) rows, and the pictures it could not embed (face_assets.recognition.embeddings' reasons)."""
    sources, issues = collect_sources(conn, root)
    conn.commit()
    ready: list[tuple[PictureSource, str, np.ndarray]] = []
    for source in sources:
        stat = stat_part(source.path)
        if stat is None:
            issues.append(Issue(source.creator_id, source.path, FILE_NOT_FOUND))
            continue
        try:
            content = Path(source.path).read_bytes()
        except OSError as exc:
            issues.append(Issue(source.creator_id, source.path, f"unreadable file: {exc.strerror or exc}"))
            continue
        print_ = fingerprint(model, stat, content)
        image = decode_image(content)
        if image is None:
            issues.append(Issue(source.creator_id, source.path, NOT_AN_IMAGE, print_))
            continue
        ready.append((source, print_, image))
    rows = []
    for start in range(0, len(ready), batch_size):
        batch = ready[start : start + batch_size]
        for (source, print_, _), found in zip(batch, picture_embeddings(engine, [image for *_, image in batch])):
            if found is None:
                issues.append(Issue(source.creator_id, source.path, NO_FACE, print_))
            else:
                rows.append((source, print_, found[0], found[1]))
    return rows, issues


# --- the switch ------------------------------------------------------------------------------------------------------


@dataclass
class SwitchSummary:
    previous: RecordedModel | None
    model: ModelIdentity
    faces: int = 0
    landmarks: dict[str, int] = field(default_factory=dict)
    faces_embedded_at_switch: int = 0
    face_references: int = 0  # known faces taken from video faces (confirmed, learned), re-embedded with them
    face_references_removed: int = 0
    pictures: int = 0
    pictures_removed: list[tuple[int, str, str]] = field(default_factory=list)  # creator, picture, why
    picture_issues: list[Issue] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, Any]:
        return {
            "previous_model": self.previous.describe() if self.previous else None,
            "model": self.model.describe(),
            "fingerprint": self.model.fingerprint,
            "faces": self.faces,
            "landmarks": self.landmarks,
            "faces_embedded_at_switch": self.faces_embedded_at_switch,
            "face_references": self.face_references,
            "face_references_removed": self.face_references_removed,
            "pictures": self.pictures,
            "pictures_removed": [{"creator_id": c, "picture": p, "why": w} for c, p, w in self.pictures_removed],
            "picture_issues": len(self.picture_issues),
            "decisions_kept": self.decisions,
            "seconds": round(self.seconds, 2),
        }

    def lines(self) -> list[str]:
        removed = [f"  creator {c}: {p}: {w}" for c, p, w in self.pictures_removed[:10]]
        if len(self.pictures_removed) > 10:
            removed.append(f"  ... and {len(self.pictures_removed) - 10} more (creator_embedding_issues)")
        return [
            f"switched from {self.previous.describe() if self.previous else 'no model'} to {self.model.describe()} "
            f"in {self.seconds:.1f} s",
            f"faces: {self.faces} re-embedded (landmarks: "
            + ", ".join(f"{n} from the {k}" for k, n in self.landmarks.items() if n)
            + f"), {self.faces_embedded_at_switch} of them at the switch",
            f"known faces from videos (confirmed, learned): {self.face_references} re-embedded, "
            f"{self.face_references_removed} removed (their face is gone)",
            f"creator pictures: {self.pictures} re-embedded, {len(self.pictures_removed)} embeddings removed (the new "
            f"model finds no face in the picture, or its file is gone); {len(self.picture_issues)} picture problems "
            "in all (creator_embedding_issues)",
            *removed,
            "decisions kept: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.decisions.items()),
        ]


def decisions(conn: psycopg.Connection) -> dict[str, int]:
    row = conn.execute(read_sql("model/decisions.sql"))
    names = [c.name for c in row.description]
    return dict(zip(names, (int(v) for v in row.fetchone())))


def _stage_or_fail(
    conn, engine, change: Change, video_ids: list[int], log, commit: bool = True
) -> tuple[int, dict[str, int]]:
    staged = stage_videos(conn, engine, change, video_ids, log, commit=commit)
    failed = [s for s in staged if s.error]
    if failed:
        raise ReembedIncomplete(
            f"{len(failed)} video(s) could not be re-embedded, so the database stays on its model: "
            + "; ".join(f"video {s.video_id}: {s.error}" for s in failed[:5])
        )
    landmarks = dict.fromkeys(LANDMARKS, 0)
    for s in staged:
        for k, n in s.landmarks.items():
            landmarks[k] += n
    return sum(s.faces for s in staged), landmarks


def switch_model(
    conn: psycopg.Connection,
    engine,
    change: Change,
    *,
    root: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> SwitchSummary:
    """Embed what is left, then switch the database to `change`'s model in one transaction (see the module
    docstring). `engine`: a face engine of the new pack. ReembedIncomplete when faces cannot be embedded (nothing
    switched); NoChange when `change` is not the change in progress. Commits."""
    say = log or (lambda message: None)
    started = time.perf_counter()
    summary = SwitchSummary(recorded_model(conn), change.model)
    left = videos_to_embed(conn)
    conn.commit()
    if left:
        say(f"{len(left)} video(s) with faces not embedded by {change.name} yet: embedding them now")
        summary.faces_embedded_at_switch, _ = _stage_or_fail(conn, engine, change, left, say)
    say("embedding the creators' pictures")
    pictures, summary.picture_issues = embed_pictures(conn, engine, change.name, root)

    with conn.transaction():
        current = conn.execute(read_sql("model/change.sql").rstrip().rstrip(";") + " FOR UPDATE").fetchone()
        if current is None or current[1] != change.fingerprint:
            raise NoChange(f"the change to {change.name} is no longer in progress: nothing was switched")
        # Writers of embeddings share-lock the record: from here none is in flight, and the next one sees the switch.
        conn.execute("SELECT 1 FROM face_model FOR UPDATE")
        conn.execute(read_sql("recognition/lock.sql"), {"name": "face_assets.creator_embeddings"})
        left = videos_to_embed(conn)
        if left:  # written between the embedding above and the lock
            extra, _ = _stage_or_fail(conn, engine, change, left, say, commit=False)
            summary.faces_embedded_at_switch += extra
        summary.faces, summary.landmarks = _switch_faces(conn)
        summary.face_references = conn.execute(read_sql("model/switch_face_references.sql")).rowcount
        summary.face_references_removed = conn.execute(read_sql("model/switch_orphan_references.sql")).rowcount
        summary.pictures, summary.pictures_removed = _switch_pictures(conn, pictures, summary.picture_issues)
        conn.execute(read_sql("model/record_switch.sql"), {"name": change.name, "fingerprint": change.fingerprint})
        conn.execute(read_sql("model/switch_done.sql"))
        summary.decisions = decisions(conn)
    conn.commit()
    summary.seconds = time.perf_counter() - started
    return summary


def _switch_faces(conn: psycopg.Connection) -> tuple[int, dict[str, int]]:
    """Every face takes its staged embedding; the faces' HNSW index is rebuilt once rather than updated face by face
    (an index update per face costs milliseconds; a library has hundreds of thousands)."""
    total = conn.execute("SELECT count(*) FROM video_face_detections").fetchone()[0]
    landmarks = dict.fromkeys(LANDMARKS, 0)
    for source, n in conn.execute("SELECT landmarks, count(*) FROM face_embeddings_next GROUP BY 1"):
        landmarks[source] = int(n)
    index = conn.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indexrelid = to_regclass('idx_video_faces_embedding')"
    ).fetchone()
    if index:
        conn.execute("DROP INDEX idx_video_faces_embedding")
    switched = conn.execute(read_sql("model/switch_faces.sql")).rowcount
    if switched != total:
        raise ReembedIncomplete(
            f"{total - switched} of {total} faces have no embedding by the new model: nothing switched"
        )
    if index:
        conn.execute(index[0])
    return switched, landmarks


def _switch_pictures(
    conn: psycopg.Connection, pictures: list, issues: list[Issue]
) -> tuple[int, list[tuple[int, str, str]]]:
    conn.execute(read_sql("recognition/stage_embeddings.sql"))
    if pictures:
        with conn.cursor() as cur, cur.copy(read_sql("recognition/copy_embeddings.sql")) as copy:
            copy.set_types(["int4", "text", "text", "text", "float4", "vector"])
            for source, print_, score, embedding in pictures:
                copy.write_row((source.creator_id, source.source_type, source.path, print_, score, embedding))
        conn.execute(read_sql("recognition/upsert_embeddings.sql"))
    why = {(i.creator_id, i.source_path): i.reason for i in issues}
    removed = [
        (c, p, why.get((c, p), "no longer a picture of the creator"))
        for c, p in conn.execute(read_sql("model/switch_stale_pictures.sql")).fetchall()
    ]
    record_issues(conn, issues)
    return len(pictures), removed


# --- after the switch ------------------------------------------------------------------------------------------------


@dataclass
class RefreshSummary:
    model: str
    calibration: dict[str, Any] = field(default_factory=dict)
    matched: dict[str, Any] = field(default_factory=dict)
    clusters: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "calibration": self.calibration,
            "matched": self.matched,
            "clusters": self.clusters,
            "seconds": round(self.seconds, 2),
        }

    def lines(self) -> list[str]:
        c = self.calibration
        if c.get("applied"):
            cal = (
                f"calibration from the library's decisions applied ({c['genuine']} genuine, {c['impostor']} impostor "
                f"pairs): " + ", ".join(f"{k} {v:g}" for k, v in c["settings"].items())
            )
        else:
            cal = (
                f"calibration from the library's decisions not applied: {c.get('genuine', 0)} genuine and "
                f"{c.get('impostor', 0)} impostor pairs (needs {c.get('needs')}); {c.get('instead')}"
            )
        m = self.matched
        return [
            cal,
            f"matched again: {m.get('faces', 0)} undecided faces, {m.get('proposed', 0)} proposed, "
            f"{m.get('tags_added', 0)} auto-tags added, {m.get('tags_removed', 0)} removed",
            f"clustered again: {self.clusters.get('clusters', 0)} open clusters of "
            f"{self.clusters.get('clustered_faces', 0)} faces",
        ]


def refresh_after_switch(
    conn: psycopg.Connection,
    model: str,
    *,
    connect: Callable | None = None,
    log: Callable[[str], None] | None = None,
) -> RefreshSummary:
    """After the switch to `model`: calibrate from the library's decisions (applied when there are enough), match
    every undecided face again, cluster the unknown faces again (a full run). Commits."""
    from face_assets.recognition.calibration_measure import MIN_LIBRARY_GENUINE, MIN_LIBRARY_IMPOSTOR, calibrate_library
    from face_assets.recognition.calibration_store import apply_calibration, calibration_for
    from face_assets.recognition.cluster_proposals import propose
    from face_assets.recognition.clustering import ClusteringConfig, cluster_faces
    from face_assets.recognition.config import MODEL_DEFAULTS, RecognitionConfig
    from face_assets.recognition.matching import REMATCH_STATE_KEY, embedding_snapshot, match_detections

    say = log or (lambda message: None)
    started = time.perf_counter()
    summary = RefreshSummary(model)
    cal = calibrate_library(conn, model)
    conn.commit()
    calibration: dict[str, Any] = {
        "applied": bool(cal.details["enough_to_apply"]),
        "genuine": cal.n_genuine,
        "impostor": cal.n_impostor,
        "needs": f"{MIN_LIBRARY_GENUINE} and {MIN_LIBRARY_IMPOSTOR}",
    }
    if calibration["applied"]:
        calibration["settings"] = apply_calibration(conn, cal)
        conn.commit()
    else:
        existing = calibration_for(conn, model)
        if existing is not None:
            calibration["instead"] = (
                f"the calibration of {model} from {existing.source} ({existing.created_at}) applies"
            )
        elif model in MODEL_DEFAULTS:
            calibration["instead"] = f"{model}'s MODEL_DEFAULTS apply"
        else:
            calibration["instead"] = (
                f"{model} has no calibration and no MODEL_DEFAULTS: the fallback thresholds apply until it is "
                f"calibrated (`face-assets calibrate --pairs ... --apply` with FACE_ASSETS_MODEL={model})"
            )
    summary.calibration = calibration
    say(summary.lines()[0])

    config = RecognitionConfig.load(conn, model=model)
    if config.enabled:
        matched = match_detections(conn, config)
        conn.execute(
            read_sql("recognition/state_set.sql"),
            {"key": REMATCH_STATE_KEY, "value": embedding_snapshot(conn, config).to_json()},
        )
        conn.commit()
        summary.matched = {
            "faces": matched.faces,
            "proposed": matched.proposed,
            "tags_added": matched.tags.tags_added,
            "tags_removed": matched.tags.tags_removed,
        }
        say(summary.lines()[1])
    result = cluster_faces(conn, ClusteringConfig.load(conn, model=model), connect=connect, log=say, full=True)
    propose(conn)
    conn.commit()
    summary.clusters = {"clusters": result.clusters, "clustered_faces": result.clustered_faces}
    summary.seconds = time.perf_counter() - started
    return summary
