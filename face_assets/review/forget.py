"""Forgetting a person (erasure): `face-assets forget creator|cluster ID`, `DELETE /api/face-recognition/creator/{id}/faces`
and `DELETE /api/face-recognition/cluster/{id}`, with a confirmation on the creator's and the cluster's page.

Who the person is:
- a creator: every face matched (auto-tagged), proposed or confirmed as them, every face one of their references came
  from, and every reference of theirs (profile picture, reference images, confirmed and learned faces). A face a
  person rejected for them is not theirs: it stays, undecided again (and is matched again at once). A proposed face
  goes too: above match_threshold it is most likely theirs, and erasure errs on the side of deleting;
- a cluster (open or ignored): its faces (those of clusters merged into it included). A named cluster is a creator
  (forget the creator); a merged one lives on in the cluster it went into.

What goes, in one transaction:
- the faces' rows (video_face_detections): the detections are deleted, not just their embeddings: the row holds the
  embedding, the box and the crop's path, and a row without its embedding would be a face of nobody that every query
  would have to skip. What hangs on a face goes with it: links, exclusions, timeline memberships (ON DELETE CASCADE);
  clusters and appearances that showed it as representative keep NULL; vetoes about it (face_match_rejections,
  learned_reference_vetoes, by id or by place) are deleted; clustering's kept neighbour lists lose it (and the lists
  that held it are logged as changed, so the next clustering queries them again);
- creator embeddings of the person (every one of a creator; any learned or confirmed from a forgotten face);
- for a creator: the tags face recognition or a review gave them (video_creators.source 'face_recognition' or
  'manual'; a 'legacy' tag, made by hand in the video app, stays), picture problems, cluster proposals naming them,
  their named clusters; the videos they were in are matched again (a face whose runner-up they were, a face rejected
  for them);
- for a cluster: the cluster, the clusters merged into it, proposals pairing it with another cluster;
- the timeline's tracks left without a face, and the appearances of the videos, recomputed.

Then, once committed, the files under FACE_ASSETS_HOME: the faces' crops (crops/<video>/), the creator's reference
folder (reference/<creator id>/, uploads included), the previews of the videos (previews/<video>/, a frame with the
faces boxed, re-made on the next run), and the person painted out of the sampled frames they were on (frames/<video>/:
their boxes, with the crop's margin, filled grey; the frame stays, it shows other people too, and its faces keep their
rows). A file outside FACE_ASSETS_HOME is never deleted (a profile picture is the video app's file): it is reported.

The tombstones (sql/upgrades/0002_forget.sql) hold no embedding, image or name:
- forgotten_creators: the creator's pictures are never embedded again (creator_embeddings, the sensor, `reembed`),
  the matcher leaves them out, and no decision, upload or re-embedding makes a face theirs again (ReviewError);
- forgotten_faces: the places of the forgotten faces (video, frame time, box): re-detecting the video never stores a
  face there again (`drop_forgotten_faces`, in face_detections' transaction) and sampling its frames again paints them
  out (`redact_forgotten`, in sampled_frames).
So a rematch, a re-clustering, a re-run of creator_embeddings or of the videos' frames and faces brings nothing back.
What cannot be known without keeping what recognises the person is not covered: the person in a new video, or in
frames a video gets later (more frames per video, adaptive sampling probing new times), is a new unknown face.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from face_assets import settings
from face_assets.db.sql_files import read_sql
from face_assets.recognition.clustering import ensure_schema, lock_clusters, update_cluster_stats
from face_assets.recognition.config import RecognitionConfig
from face_assets.review.decisions import ReviewError, ReviewNotFound

# A re-sampled frame is the forgotten face's frame when its time is this close (seconds): the same request decodes
# the same frame, at the same time; a frame of another request is another frame.
SAME_FRAME_SECONDS = 0.05
# The part of a frame painted out around a forgotten face's box, as a fraction of the box on each side: the crops'
# margin (face_assets.defs.faces.assets.CROP_MARGIN), so nothing a crop showed is left in the frame.
REDACT_MARGIN = 0.2
REDACT_GREY = 128
FRAME_JPEG_QUALITY = 95  # the sampled frames' quality (face_assets.defs.library.assets.FRAME_JPEG_QUALITY)


@dataclass
class FileReport:
    """What happened to the person's files under FACE_ASSETS_HOME (or would, in a dry run)."""

    crops: int = 0
    frames: int = 0  # frame files the person was painted out of
    previews: int = 0
    references: int = 0  # files of the reference folder
    kept: list[str] = field(default_factory=list)  # files outside FACE_ASSETS_HOME, never ours to delete
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "crops_deleted": self.crops,
            "frames_painted_out": self.frames,
            "previews_deleted": self.previews,
            "reference_files_deleted": self.references,
            "kept_outside_home": self.kept,
            "errors": self.errors,
        }


@dataclass
class Forgotten:
    """What a forget did (or, with dry_run, would do)."""

    kind: str  # 'creator' | 'cluster'
    target_id: int
    name: str | None
    dry_run: bool = False
    forgotten_before: datetime | None = None  # a creator forgotten by an earlier forget
    faces: int = 0
    face_videos: list[int] = field(default_factory=list)  # the videos the faces were in
    videos: list[int] = field(default_factory=list)  # every video it touched (faces, tags, faces reopened)
    embeddings: int = 0
    tags_removed: list[tuple[int, str]] = field(default_factory=list)  # (video, source)
    legacy_tags_kept: int = 0
    clusters_removed: list[int] = field(default_factory=list)
    faces_reopened: int = 0  # faces a person had rejected for the creator: undecided again
    vetoes_removed: int = 0
    neighbour_lists: int = 0  # clustering's kept lists that held a forgotten face
    places: int = 0  # tombstones of faces' places recorded
    rematched_faces: int = 0
    files: FileReport = field(default_factory=FileReport)

    @property
    def label(self) -> str:
        if self.kind == "creator":
            return f"creator {self.name!r} ({self.target_id})"
        return f"cluster {self.target_id}"

    def lines(self) -> list[str]:
        would = self.dry_run
        out = []
        if self.forgotten_before is not None:
            out.append(f"{self.label} was forgotten before, on {self.forgotten_before:%Y-%m-%d %H:%M %Z}".rstrip())
        head = "would forget" if would else "forgot"
        out.append(
            f"{head} {self.label}: {self.faces} face(s) in {len(self.face_videos)} video(s)"
            f"{' deleted' if not would else ''}, {self.embeddings} creator embedding(s)"
        )
        if self.tags_removed:
            tags = ", ".join(f"video {v} ({s})" for v, s in self.tags_removed)
            out.append(f"{'would remove' if would else 'removed'} {len(self.tags_removed)} tag(s): {tags}")
        if self.kind == "creator":
            out.append(f"kept {self.legacy_tags_kept} legacy tag(s) (made by hand in the video app)")
        if self.clusters_removed:
            out.append(
                f"{'would remove' if would else 'removed'} cluster(s) "
                + ", ".join(str(c) for c in self.clusters_removed)
            )
        if self.faces_reopened:
            out.append(
                f"{self.faces_reopened} face(s) a person had rejected for them (not theirs) "
                f"{'would be' if would else 'are'} undecided again"
            )
        if self.vetoes_removed:
            out.append(f"{self.vetoes_removed} veto(es) about them {'would go' if would else 'removed'}")
        files = self.files
        out.append(
            f"files: {files.crops} crop(s), {files.references} reference image(s), {files.previews} preview(s) "
            f"{'would be ' if would else ''}deleted; {files.frames} frame(s) {'would be ' if would else ''}painted over"
        )
        out.extend(f"kept (outside FACE_ASSETS_HOME, not ours to delete): {path}" for path in files.kept)
        out.extend(f"could not delete: {error}" for error in files.errors)
        if not would:
            if self.kind == "creator":
                out.append(
                    "tombstone: their pictures are never embedded again, and no face is matched, proposed or "
                    "confirmed as them"
                )
            out.append(
                f"tombstone: {self.places} face place(s) recorded: re-detecting the videos never stores these faces "
                "again (no embedding or image is kept)"
            )
            if self.rematched_faces:
                out.append(f"re-matched {self.rematched_faces} face(s) of their videos")
            out.append(
                "backups taken before now still hold them until they leave the retention (FACE_ASSETS_BACKUP_KEEP)"
            )
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.target_id,
            "name": self.name,
            "dry_run": self.dry_run,
            "forgotten_before": None if self.forgotten_before is None else self.forgotten_before.isoformat(),
            "faces": self.faces,
            "face_videos": self.face_videos,
            "videos": self.videos,
            "embeddings": self.embeddings,
            "tags_removed": [{"video_id": v, "source": s} for v, s in self.tags_removed],
            "legacy_tags_kept": self.legacy_tags_kept,
            "clusters_removed": self.clusters_removed,
            "faces_reopened": self.faces_reopened,
            "vetoes_removed": self.vetoes_removed,
            "face_places_recorded": self.places,
            "faces_rematched": self.rematched_faces,
            "files": self.files.as_json(),
            "decisions": self.lines(),  # what the review pages show (the same key as a decision's outcome)
        }


@dataclass(frozen=True)
class _Face:
    id: int
    video_id: int
    cluster_id: int | None
    crop_path: str | None
    frame_path: str | None
    box: tuple[float, float, float, float]


# --- the tombstones, for the rest of the code ---------------------------------------------------------------------


def forgotten_creators(conn: psycopg.Connection, creator_ids: Iterable[int]) -> dict[int, tuple[str | None, datetime]]:
    """{creator id: (name, forgotten_at)} of those among `creator_ids` that were forgotten."""
    ids = sorted({int(i) for i in creator_ids if i is not None})
    if not ids or conn.execute("SELECT to_regclass('forgotten_creators')").fetchone()[0] is None:
        return {}
    return {r[0]: (r[1], r[2]) for r in conn.execute(read_sql("forget/forgotten_creators.sql"), {"ids": ids})}


def forgotten_at(conn: psycopg.Connection, creator_id: int) -> datetime | None:
    found = forgotten_creators(conn, [creator_id]).get(int(creator_id))
    return None if found is None else found[1]


def refuse_forgotten(conn: psycopg.Connection, creator_ids: Iterable[int]) -> None:
    """ReviewError when one of `creator_ids` was forgotten: no decision, upload or re-embedding makes a face theirs
    again (nothing is changed)."""
    found = forgotten_creators(conn, creator_ids)
    if found:
        cid, (name, when) = next(iter(found.items()))
        raise ReviewError(
            f"creator {name!r} ({cid}) was forgotten on {when:%Y-%m-%d} (face-assets forget): no face is made theirs "
            "again"
        )


def drop_forgotten_faces(conn: psycopg.Connection, video_id: int) -> list[str]:
    """In face_detections' transaction, once a video's new faces are staged (temp table new_faces) and before they
    are written: those where a forgotten face was are dropped; their crop paths, for the caller to delete. Waits for
    a forget in progress first (sql/forget/lock.sql)."""
    if not _has_tombstones(conn):
        return []
    conn.execute(read_sql("forget/wait.sql"))
    rows = conn.execute(
        read_sql("forget/drop_new_faces.sql"), {"video_id": int(video_id), "tolerance": SAME_FRAME_SECONDS}
    ).fetchall()
    return [r[0] for r in rows if r[0]]


def redact_forgotten(conn: psycopg.Connection, video_id: int, frames: Sequence[Any]) -> int:
    """sampled_frames, before it saves a video's frames: the forgotten faces' boxes painted out of the frames (objects
    with `timestamp_seconds` and a BGR `image`, changed in place); the number of frames changed."""
    if not _has_tombstones(conn):
        return 0
    places = conn.execute(read_sql("forget/places_of_video.sql"), {"video_id": int(video_id)}).fetchall()
    if not places:
        return 0
    changed = 0
    for frame in frames:
        boxes = [p[1:] for p in places if abs(float(p[0]) - float(frame.timestamp_seconds)) <= SAME_FRAME_SECONDS]
        if boxes:
            paint_out(frame.image, boxes)
            changed += 1
    return changed


def _has_tombstones(conn: psycopg.Connection) -> bool:
    """Whether the schema has the tombstone tables (a database not upgraded yet has none to honour)."""
    return conn.execute("SELECT to_regclass('forgotten_faces') IS NOT NULL").fetchone()[0]


def paint_out(image: np.ndarray, boxes: Iterable[Sequence[float]], margin: float = REDACT_MARGIN) -> None:
    """Fill each (x, y, width, height) box, with `margin` of its size around it, grey in `image` (in place)."""
    height, width = image.shape[:2]
    for x, y, w, h in boxes:
        x, y, w, h = float(x), float(y), float(w), float(h)
        x1 = int(max(0, math.floor(x - margin * w)))
        y1 = int(max(0, math.floor(y - margin * h)))
        x2 = int(min(width, math.ceil(x + w + margin * w)))
        y2 = int(min(height, math.ceil(y + h + margin * h)))
        if x2 > x1 and y2 > y1:
            image[y1:y2, x1:x2] = REDACT_GREY


# --- forgetting ---------------------------------------------------------------------------------------------------


def forget_creator(
    conn: psycopg.Connection,
    creator_id: int,
    *,
    home: Path | None = None,
    config: RecognitionConfig | None = None,
    dry_run: bool = False,
) -> Forgotten:
    """Forget creator `creator_id`'s faces for good (see the module docstring); the creators row and their legacy
    tags stay. `home`: FACE_ASSETS_HOME (default: the setting). `dry_run`: say what would go, change nothing.
    Commits. ReviewNotFound for an unknown creator."""
    ensure_schema(conn)
    found = conn.execute(read_sql("forget/creator.sql"), {"creator_id": int(creator_id)}).fetchone()
    if found is None:
        raise ReviewNotFound(f"no creator with id {creator_id}")
    config = config or RecognitionConfig.load(conn)
    result = Forgotten("creator", int(creator_id), found[1], dry_run, forgotten_at(conn, creator_id))
    with conn.transaction():
        faces = _erase(conn, result, "forget/creator_faces.sql", {"creator_id": result.target_id}, result.target_id)
        tags, reopened, reopened_videos, _runner_up, _new, legacy = conn.execute(
            read_sql("forget/creator_rest.sql"), {"creator_id": result.target_id}
        ).fetchone()
        result.tags_removed = [(int(v), s) for v, s in tags]
        result.faces_reopened = len(reopened)
        result.legacy_tags_kept = int(legacy)
        result.videos = sorted(set(result.videos) | set(reopened_videos) | {v for v, _ in result.tags_removed})
        _remove_clusters(conn, result, [], faces, result.target_id)
        if not dry_run and config.enabled and result.videos:
            from face_assets.recognition.matching import match_detections

            result.rematched_faces = match_detections(conn, config, video_ids=result.videos).faces
        _timeline(conn, result.videos)
        if dry_run:
            raise psycopg.Rollback()
    conn.commit()
    home = Path(home) if home is not None else settings.home()
    result.files = _files(home, faces, result.videos, result.target_id, dry_run)
    if found[2] and str(found[2]).strip():
        result.files.kept.append(f"{str(found[2]).strip()} (the profile picture: the video app's file)")
    return result


def forget_cluster(
    conn: psycopg.Connection, cluster_id: int, *, home: Path | None = None, dry_run: bool = False
) -> Forgotten:
    """Forget cluster `cluster_id`'s faces for good, and the cluster (see the module docstring). ReviewNotFound for
    an unknown cluster, ReviewError for a named (a creator: forget the creator), merged or dissolved one. Commits."""
    ensure_schema(conn)
    row = conn.execute(read_sql("review/cluster.sql"), {"id": int(cluster_id)}).fetchone()
    if row is None:
        raise ReviewNotFound(f"no cluster with id {cluster_id}")
    cid, status, _size, _videos, creator_id, creator, merged_into = row
    if status == "named":
        raise ReviewError(
            f"cluster {cid} is creator {creator!r} ({creator_id}): forget the creator "
            f"(face-assets forget creator {creator_id})"
        )
    if status == "merged":
        raise ReviewError(f"cluster {cid} was merged into cluster {merged_into}: forget cluster {merged_into}")
    if status == "dissolved":
        raise ReviewError(f"cluster {cid} is dissolved: its faces are in other clusters now or in none")
    result = Forgotten("cluster", int(cid), None, dry_run)
    with conn.transaction():
        faces = _erase(conn, result, "forget/cluster_faces.sql", {"cluster_id": result.target_id}, None)
        _remove_clusters(conn, result, [result.target_id], faces, None)
        _timeline(conn, result.videos)
        if dry_run:
            raise psycopg.Rollback()
    conn.commit()
    home = Path(home) if home is not None else settings.home()
    result.files = _files(home, faces, result.videos, None, dry_run)
    return result


def _erase(
    conn: psycopg.Connection, result: Forgotten, faces_sql: str, params: dict, creator_id: int | None
) -> list[_Face]:
    """The steps every forget shares, in its transaction: lock, stage the faces, tombstones of their places, vetoes,
    neighbour lists, embeddings, the faces themselves. The faces (with their files) are returned."""
    lock_clusters(conn)  # clustering and cluster edits wait (the same order as theirs: this lock, then rows)
    conn.execute(read_sql("forget/lock.sql"))
    conn.execute(read_sql("forget/stage.sql"))
    conn.execute(read_sql(faces_sql), params)
    faces = [
        _Face(r[0], r[1], r[2], r[3], r[4], (float(r[5]), float(r[6]), float(r[7]), float(r[8])))
        for r in conn.execute(read_sql("forget/faces.sql")).fetchall()
    ]
    result.places = conn.execute(read_sql("forget/record_places.sql")).rowcount
    rejections, vetoes = conn.execute(read_sql("forget/vetoes.sql"), {"creator_id": creator_id}).fetchone()
    result.vetoes_removed = int(rejections) + int(vetoes)
    result.neighbour_lists = conn.execute(read_sql("forget/neighbours.sql")).rowcount
    result.embeddings = len(conn.execute(read_sql("forget/embeddings.sql"), {"creator_id": creator_id}).fetchall())
    gone = conn.execute(read_sql("forget/detections.sql")).fetchall()
    result.faces = sum(n for _, _, n in gone)
    result.face_videos = sorted({v for v, _, _ in gone})
    result.videos = list(result.face_videos)
    return faces


def _remove_clusters(
    conn: psycopg.Connection, result: Forgotten, ids: list[int], faces: Sequence[_Face], creator_id: int | None
) -> None:
    removed = conn.execute(read_sql("forget/clusters.sql"), {"ids": ids, "creator_id": creator_id}).fetchall()
    result.clusters_removed = sorted(r[0] for r in removed)
    left = sorted({f.cluster_id for f in faces if f.cluster_id is not None} - set(result.clusters_removed))
    if left:
        update_cluster_stats(conn, left, left)  # clusters that lost faces: size, videos, representative


def _timeline(conn: psycopg.Connection, videos: Sequence[int]) -> None:
    from face_assets.recognition import timeline

    if videos and timeline.has_schema(conn):
        conn.execute(read_sql("forget/empty_tracks.sql"), {"video_ids": list(videos)})
        timeline.refresh_appearances(conn, videos)


# --- files --------------------------------------------------------------------------------------------------------


def _inside(home: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(home.resolve())
    except (OSError, RuntimeError):
        return False


def _files(
    home: Path, faces: Sequence[_Face], videos: Sequence[int], creator_id: int | None, dry_run: bool
) -> FileReport:
    """Delete (or, with `dry_run`, count) the person's files under `home`; others are reported, never deleted."""
    report = FileReport()

    def remove(path: Path) -> bool:
        if dry_run:
            return path.is_file()
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            report.errors.append(f"{path}: {exc.strerror or exc}")
            return False

    for crop in sorted({f.crop_path for f in faces if f.crop_path}):
        path = Path(crop)
        if not _inside(home, path):
            if path.exists():
                report.kept.append(f"{path} (a face crop)")
            continue
        report.crops += remove(path)

    boxes: dict[str, list[tuple[float, float, float, float]]] = {}
    for face in faces:
        if face.frame_path:
            boxes.setdefault(face.frame_path, []).append(face.box)
    for frame, frame_boxes in sorted(boxes.items()):
        path = Path(frame)
        if not path.is_file():
            continue
        if not _inside(home, path):
            report.kept.append(f"{path} (a sampled frame)")
            continue
        if dry_run:
            report.frames += 1
            continue
        try:
            _paint_out_file(path, frame_boxes)
            report.frames += 1
        except (OSError, ValueError) as exc:
            report.errors.append(f"{path}: {exc}")

    for video in videos:
        folder = home / "previews" / str(int(video))
        if folder.is_dir():
            for path in sorted(folder.glob("*.jpg")):
                report.previews += remove(path)

    if creator_id is not None:
        folder = home / "reference" / str(int(creator_id))
        if folder.is_dir() and _inside(home, folder):
            report.references = sum(1 for p in folder.rglob("*") if p.is_file())
            if not dry_run:
                try:
                    shutil.rmtree(folder)
                except OSError as exc:
                    report.errors.append(f"{folder}: {exc.strerror or exc}")
    return report


def _paint_out_file(path: Path, boxes: Sequence[tuple[float, float, float, float]]) -> None:
    import cv2

    from face_assets.video.frames import save_jpeg

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a readable image")
    paint_out(image, boxes)
    save_jpeg(image, path, quality=FRAME_JPEG_QUALITY)
