"""Appearance timelines in the database: tracks of linked faces per video, and who appears when (face_appearances).

The frame-time and linking logic is face_assets.video.timeline (the Dagster layer, face_assets.defs.faces.timeline,
joins the two: `link_tracks` there); this module reads the sampled frames and faces of videos (`load_frames`),
stores their tracks (`store_tracks`), and computes their appearances set-based (`refresh_appearances`,
sql/timeline/refresh_appearances.sql): who a track is comes from its faces (a decision, an auto-tag, a proposal, a
cluster), so a confident face names the whole track, profile views included, and a review decision that changes a
face changes its track's appearance (face_assets.review.decisions calls `refresh_appearances` after re-matching).

It also judges which tracks are doubtful while frames are still being added (`doubtful_tracks`): a creator is
proposed for the track (its best face at or above match_threshold) but the track's evidence, fused like a video's
(face_assets.recognition.evidence), stays below the auto-tag target.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

from face_assets import settings
from face_assets.db.schema_upgrade import upgrade
from face_assets.db.sql_files import read_sql
from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.evidence import face_llr, fuse, gallery_size, likelihood_model, target_llr
from face_assets.recognition.matching import CreatorMatrix, creator_similarities, load_creator_matrix


def ensure_schema(conn: psycopg.Connection) -> None:
    """The timeline tables come with the schema's version 4 (sql/upgrades/0004_appearances.sql)."""
    upgrade(conn)


def has_schema(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('face_appearances') IS NOT NULL").fetchone()[0]


@dataclass
class VideoFrames:
    """A video's sampled frames with their faces, as stored: `frames` in time order, each (time, frame_index,
    [(detection id, (x, y, w, h), unit embedding), ...])."""

    video_id: int
    duration: float
    path: str | None
    frames: list[tuple[float, int, list[tuple[int, tuple[float, float, float, float], np.ndarray]]]]


def load_frames(conn: psycopg.Connection, video_ids: Iterable[int]) -> dict[int, VideoFrames]:
    """The sampled frames of `video_ids` with their faces (frames without a face included)."""
    ids = sorted({int(v) for v in video_ids})
    out: dict[int, VideoFrames] = {}
    for video_id, duration, path in conn.execute(read_sql("timeline/durations.sql"), {"video_ids": ids}):
        out[video_id] = VideoFrames(video_id, float(duration or 0.0), path, [])
    with conn.cursor(binary=True) as cur:
        cur.execute(read_sql("timeline/samples.sql"), {"video_ids": ids})
        last: tuple[int, int] | None = None
        for video_id, frame_index, ts, det_id, x, y, w, h, embedding in cur:
            video = out.get(video_id)
            if video is None:
                continue
            if last != (video_id, frame_index):
                video.frames.append((float(ts), frame_index, []))
                last = (video_id, frame_index)
            if det_id is not None:
                vec = np.asarray(embedding, dtype=np.float32)
                video.frames[-1][2].append((det_id, (x, y, w, h), vec / max(float(np.linalg.norm(vec)), 1e-12)))
    for video in out.values():
        if video.frames:
            video.duration = max(video.duration, video.frames[-1][0])
    return out


def store_tracks(conn: psycopg.Connection, video_ids: Iterable[int], tracks: Sequence[tuple]) -> None:
    """Replace the tracks of `video_ids` by `tracks`: (video id, track number, start, end, [detection ids])."""
    with conn.transaction():
        conn.execute(read_sql("timeline/delete_tracks.sql"), {"video_ids": sorted({int(v) for v in video_ids})})
        conn.execute(
            read_sql("timeline/insert_tracks.sql"),
            {
                "video_ids": [t[0] for t in tracks],
                "tracks": [t[1] for t in tracks],
                "starts": [t[2] for t in tracks],
                "ends": [t[3] for t in tracks],
                "faces": [len(t[4]) for t in tracks],
            },
        )
        conn.execute(
            read_sql("timeline/insert_track_faces.sql"),
            {
                "detection_ids": [int(d) for t in tracks for d in t[4]],
                "video_ids": [t[0] for t in tracks for _ in t[4]],
                "tracks": [t[1] for t in tracks for _ in t[4]],
            },
        )


def merge_gap() -> float:
    """Tracks of one person at most this far apart are one appearance: the timeline's resolution."""
    return settings.timeline_resolution()


def refresh_appearances(conn: psycopg.Connection, video_ids: Iterable[int]) -> int:
    """Recompute the appearances of `video_ids` from their stored tracks and the faces' current state; the rows
    written. A database without the timeline tables yet is left alone (0)."""
    ids = sorted({int(v) for v in video_ids})
    if not ids or not has_schema(conn):
        return 0
    with conn.transaction():
        conn.execute(read_sql("timeline/delete_appearances.sql"), {"video_ids": ids})
        cur = conn.execute(read_sql("timeline/refresh_appearances.sql"), {"video_ids": ids, "merge_gap": merge_gap()})
        return cur.rowcount


def refresh_cluster_appearances(conn: psycopg.Connection) -> int:
    """After a clustering: the appearances of every video a cluster is (or was) seen in; rows written."""
    if not has_schema(conn):
        return 0
    videos = [r[0] for r in conn.execute(read_sql("timeline/cluster_videos.sql")).fetchall()]
    return refresh_appearances(conn, videos)


# --- doubtful evidence, while adaptive sampling runs --------------------------------------------------------


class DoubtJudge:
    """Which tracks are doubtful: a creator is proposed for the track but its fused evidence stays below the
    auto-tag target (see the module docstring). One per step: the gallery and the likelihood model load once."""

    def __init__(self, conn: psycopg.Connection, config: RecognitionConfig):
        self.config = config
        self.creators: CreatorMatrix = load_creator_matrix(conn)
        self.model = likelihood_model(conn, config)
        self.target = target_llr(gallery_size(conn), config.auto_tag_max_false_rate)

    def __call__(self, samples: Sequence, tracks: Sequence) -> list[int]:
        """`samples` and `tracks` as face_assets.video.timeline makes them (duck-typed: the domains stay apart)."""
        if len(self.creators.creator_ids) == 0:
            return []
        doubtful = []
        for index, track in enumerate(tracks):
            faces = np.stack([samples[si].faces[fi].embedding for si, fi in track.members])
            sims = creator_similarities(faces, self.creators)
            best_creator = int(np.argmax(sims.max(axis=0)))
            own = sims[:, best_creator]
            if float(own.max()) < self.config.match_threshold:
                continue  # nobody proposed: a stranger, whom more frames would not name
            crowd = [len(samples[si].faces) for si, _ in track.members]
            fused = fuse(
                [si for si, _ in track.members],
                face_llr(self.model, own),
                self.config.evidence_frame_correlation,
                crowd,
                [index] * len(track.members),  # one track: one look, as the auto-tag rule counts it
            )
            if fused < self.target:
                doubtful.append(index)
        return doubtful


# --- reading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Appearance:
    id: int
    creator_id: int | None
    cluster_id: int | None
    name: str
    status: str
    start: float
    end: float
    faces: int
    tracks: int
    confidence: float | None
    best_detection_id: int | None
    frame_index: int | None
    frame_timestamp: float | None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "creator_id": self.creator_id,
            "cluster_id": self.cluster_id,
            "name": self.name,
            "status": self.status,
            "start_seconds": round(self.start, 3),
            "end_seconds": round(self.end, 3),
            "faces": self.faces,
            "tracks": self.tracks,
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
            "detection_id": self.best_detection_id,
            "frame_index": self.frame_index,
            "frame_seconds": None if self.frame_timestamp is None else round(float(self.frame_timestamp), 3),
        }


def video_appearances(conn: psycopg.Connection, video_id: int) -> list[Appearance]:
    if not has_schema(conn):
        return []
    rows = conn.execute(read_sql("timeline/video_appearances.sql"), {"video_id": int(video_id)}).fetchall()
    return [Appearance(*r) for r in rows]


def creator_appearances(
    conn: psycopg.Connection, creator_ids: Iterable[int], limit: int = 2000
) -> dict[int, dict[int, dict]]:
    """{creator id: {video id: {"title", "spans": [(start, end, status)]}}} in video and time order."""
    ids = sorted({int(c) for c in creator_ids})
    out: dict[int, dict[int, dict]] = {}
    if not ids or not has_schema(conn):
        return out
    rows = conn.execute(read_sql("timeline/creator_appearances.sql"), {"creator_ids": ids, "limit": limit})
    for creator_id, video_id, title, start, end, status, _confidence, _best in rows:
        video = out.setdefault(creator_id, {}).setdefault(video_id, {"title": title, "spans": []})
        video["spans"].append((float(start), float(end), status))
    return out


def appearances_of_faces(conn: psycopg.Connection, detection_ids: Iterable[int]) -> dict[int, dict]:
    """{detection id: {"creator_id", "cluster_id", "name", "status", "spans": [[start, end], ...]}}: the person whose
    track holds the face, and when that person is on screen in the face's video (search-by-photo results)."""
    ids = sorted({int(i) for i in detection_ids})
    out: dict[int, dict] = {}
    if not ids or not has_schema(conn):
        return out
    for det, creator_id, cluster_id, name, status, start, end in conn.execute(
        read_sql("timeline/appearances_of_faces.sql"), {"ids": ids}
    ):
        entry = out.setdefault(
            det, {"creator_id": creator_id, "cluster_id": cluster_id, "name": name, "status": status, "spans": []}
        )
        entry["spans"].append([round(float(start), 3), round(float(end), 3)])
    return out


def clock(seconds: float) -> str:
    """0:12, 3:05, 1:02:03."""
    total = int(round(max(float(seconds), 0.0)))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def spans_text(spans: Iterable[tuple[float, float, str]] | Iterable[tuple[float, float]]) -> str:
    """'0:12-1:40, 3:05-3:30'."""
    return ", ".join(f"{clock(s[0])}-{clock(s[1])}" for s in spans)
