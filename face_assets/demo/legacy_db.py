"""A small legacy SQLite database for the demo, filled like the benchmark's generated one.

Same schema as the real app (rebuilt from sql/legacy/), deterministic synthetic rows carrying the real quirks
(DATETIME in two formats, BOOLEAN as 0/1, byte sizes above 2^31, REAL stored as TEXT, the text 'unknown' in an
INTEGER column, JSON in TEXT with one malformed value, an orphan video_creators row, two root tags with one name,
creator names that differ only by case), plus the demo's own videos and creators.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from face_assets.demo.legacy_schema import create_legacy_schema

LEGACY_ROOT = "/srv/media"
ARCHIVE_VIDEOS = 40  # rows for files on a disk that is not mounted here, as in a real library
FIRST_DEMO_VIDEO_ID = 101


@dataclass(frozen=True)
class DemoVideo:
    name: str  # under the library, e.g. videos/group_photo.mp4
    size: int
    duration: float
    width: int
    height: int
    fps: float


@dataclass(frozen=True)
class DemoCreator:
    name: str
    picture: str | None  # under the library; None: no picture in the legacy app
    description: str = ""


def _ts(rng: random.Random, base: datetime) -> str:
    """A legacy DATETIME: SQLite's CURRENT_TIMESTAMP format or JavaScript's toISOString (both UTC)."""
    t = base + timedelta(seconds=rng.randrange(0, 365 * 86400))
    if rng.random() < 0.5:
        return t.strftime("%Y-%m-%d %H:%M:%S")
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randrange(1000):03d}Z"


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict]) -> None:
    for row in rows:
        names = ", ".join(row)
        conn.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def write_legacy_db(
    path: Path, videos: list[DemoVideo], creators: list[DemoCreator], legacy_tags: list[tuple[str, str]], seed: int = 14
) -> tuple[dict[str, int], dict[str, int]]:
    """Create the legacy database at `path`; returns ({video name: id}, {creator name: id}).

    `legacy_tags`: (video name, creator name) pairs the legacy app already had (tagged by hand)."""
    rng = random.Random(seed)
    base = datetime(2024, 3, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    create_legacy_schema(path)
    video_ids: dict[str, int] = {}
    creator_ids: dict[str, int] = {}
    conn = sqlite3.connect(path)
    try:
        with conn:
            _insert(
                conn,
                "watched_directories",
                [
                    {
                        "id": 1,
                        "path": f"{LEGACY_ROOT}/videos",
                        "is_active": 1,
                        "auto_scan": 1,
                        "scan_interval_minutes": 30,
                        "last_scan_at": _ts(rng, base),
                        "added_at": _ts(rng, base),
                        "updated_at": _ts(rng, base),
                    },
                    # A disk that is no longer attached: inactive, so the library scan does not look for it.
                    {
                        "id": 2,
                        "path": "/mnt/usb-archive/videos",
                        "is_active": 0,
                        "auto_scan": 0,
                        "scan_interval_minutes": 1440,
                        "last_scan_at": None,
                        "added_at": _ts(rng, base),
                        "updated_at": _ts(rng, base),
                    },
                ],
            )
            _insert(
                conn,
                "users",
                [
                    {
                        "id": u,
                        "username": name,
                        "password_hash": "$argon2id$v=19$demo",
                        "created_at": _ts(rng, base),
                        "updated_at": _ts(rng, base),
                    }
                    for u, name in enumerate(["admin", "sam", "robin"], start=1)
                ],
            )
            rows = []
            for offset, video in enumerate(videos):
                vid = FIRST_DEMO_VIDEO_ID + 7 * offset  # ids with gaps, as after deletions
                video_ids[video.name] = vid
                rows.append(
                    {
                        "id": vid,
                        "file_path": f"{LEGACY_ROOT}/{video.name}",
                        "file_name": Path(video.name).name,
                        "directory_id": 1,
                        "file_size_bytes": video.size,
                        "file_hash": f"{rng.getrandbits(128):032x}",
                        # REAL, but TEXT in one row (the reason for the legacy migration 008)
                        "duration_seconds": f"{video.duration:.3f}" if offset == 1 else video.duration,
                        "width": video.width,
                        "height": video.height,
                        "codec": "mpeg4",
                        "bitrate": 400_000,
                        "fps": video.fps,
                        "audio_codec": None,
                        "title": Path(video.name).stem.replace("_", " ").title(),
                        "is_available": 1,
                        "last_verified_at": _ts(rng, base),
                        "indexed_at": _ts(rng, base),
                        "created_at": _ts(rng, base),
                        "updated_at": _ts(rng, base),
                        "is_deleted": 0,
                    }
                )
            for i in range(1, ARCHIVE_VIDEOS + 1):
                width, height = rng.choice([(1280, 720), (1920, 1080), (3840, 2160)])
                rows.append(
                    {
                        "id": 1000 + i,
                        "file_path": f"{LEGACY_ROOT}/videos/archive/Clip {i:03d}.mp4",
                        "file_name": f"Clip {i:03d}.mp4",
                        "directory_id": 1,
                        "file_size_bytes": rng.randrange(2**31, 12 * 2**30) if i % 5 else rng.randrange(10**8, 2**31),
                        "file_hash": f"{rng.getrandbits(128):032x}",
                        "duration_seconds": round(rng.uniform(30, 3600), 3),
                        "width": "unknown" if i == 7 else width,
                        "height": height,
                        "codec": rng.choice(["h264", "hevc"]),
                        "bitrate": rng.randrange(500_000, 20_000_000),
                        "fps": rng.choice([23.976, 25.0, 29.97]),
                        "audio_codec": "aac",
                        "title": None,
                        "is_available": 1,
                        "last_verified_at": _ts(rng, base),
                        "indexed_at": _ts(rng, base),
                        "created_at": _ts(rng, base),
                        "updated_at": _ts(rng, base),
                        "is_deleted": 0,
                    }
                )
            _insert(conn, "videos", rows)
            for offset, creator in enumerate(creators):
                cid = 10 + 3 * offset
                creator_ids[creator.name] = cid
                _insert(
                    conn,
                    "creators",
                    [
                        {
                            "id": cid,
                            "name": creator.name,
                            "description": creator.description or None,
                            "created_at": _ts(rng, base),
                            "updated_at": _ts(rng, base),
                            "profile_picture_path": f"{LEGACY_ROOT}/{creator.picture}" if creator.picture else None,
                            "is_verified": 1 if creator.picture else 0,
                        }
                    ],
                )
            tags = [(video_ids[v], creator_ids[c]) for v, c in legacy_tags]
            tags.append((9999, next(iter(creator_ids.values()))))  # orphan: the legacy app never enforced keys
            conn.executemany("INSERT INTO video_creators (video_id, creator_id) VALUES (?, ?)", tags)
            _insert(
                conn,
                "thumbnails",
                [
                    {
                        "id": n,
                        "video_id": vid,
                        "file_path": f"{LEGACY_ROOT}/data/thumbnails/{vid}.jpg",
                        "file_size_bytes": rng.randrange(10_000, 90_000),
                        "timestamp_seconds": 5.0,
                        "width": 320,
                        "height": 240,
                        "generated_at": _ts(rng, base),
                        "auto_generated": 1,
                    }
                    for n, vid in enumerate(video_ids.values(), start=1)
                ],
            )
            _insert(
                conn,
                "video_stats",
                [
                    {
                        "user_id": u,
                        "video_id": vid,
                        "play_count": rng.randrange(0, 20),
                        "total_watch_seconds": round(rng.uniform(0, 600), 1),
                        "session_watch_seconds": 0.0,
                        "session_play_counted": rng.randrange(2),
                        "last_position_seconds": round(rng.uniform(0, 10), 1),
                        "last_played_at": _ts(rng, base),
                        "last_watch_at": _ts(rng, base),
                        "created_at": _ts(rng, base),
                        "updated_at": _ts(rng, base),
                    }
                    for u in (1, 2)
                    for vid in video_ids.values()
                ],
            )
            _insert(
                conn,
                "scan_logs",
                [
                    {
                        "id": 1,
                        "directory_id": 1,
                        "files_found": len(videos),
                        "files_added": len(videos),
                        "files_updated": 0,
                        "files_removed": 0,
                        "errors": None,
                        "started_at": _ts(rng, base),
                        "completed_at": _ts(rng, base),
                    },
                    {
                        "id": 2,
                        "directory_id": 1,
                        "files_found": len(videos),
                        "files_added": 0,
                        "files_updated": 1,
                        "files_removed": 0,
                        "errors": json.dumps(["ffprobe failed: broken/empty.mp4"]),
                        "started_at": _ts(rng, base),
                        "completed_at": _ts(rng, base),
                    },
                    {
                        "id": 3,
                        "directory_id": 1,
                        "files_found": 0,
                        "files_added": 0,
                        "files_updated": 0,
                        "files_removed": 0,
                        "errors": '["scan interrupted"',
                        "started_at": _ts(rng, base),
                        "completed_at": None,
                    },  # malformed JSON: NULLed by the migration, kept in migration_rejects
                ],
            )
            _insert(
                conn,
                "tags",
                [
                    {
                        "id": 1,
                        "name": "Archive",
                        "parent_id": None,
                        "created_at": _ts(rng, base),
                        "updated_at": _ts(rng, base),
                    },
                    {
                        "id": 2,
                        "name": "Archive",
                        "parent_id": None,
                        "created_at": _ts(rng, base),
                        "updated_at": _ts(rng, base),
                    },
                    {
                        "id": 3,
                        "name": "Portraits",
                        "parent_id": 1,
                        "created_at": _ts(rng, base),
                        "updated_at": _ts(rng, base),
                    },
                ],
            )
            conn.executemany(
                "INSERT INTO video_tags (video_id, tag_id) VALUES (?, ?)",
                [(vid, 3) for vid in list(video_ids.values())[:3]],
            )
            # AUTOINCREMENT handed out more ids than survive (deleted rows): the migration must not reuse them.
            conn.execute("UPDATE sqlite_sequence SET seq = seq + 25 WHERE name IN ('videos', 'creators')")
    finally:
        conn.close()
    return video_ids, creator_ids
