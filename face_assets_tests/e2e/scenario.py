"""The library the server tests share, and snapshots of what the pipeline wrote, for comparisons.

Two fixture videos that the legacy database does not know (truth.json `new_files_not_in_legacy_db`) are copied
into the watched library root; the daemon's library_sensor registers them and its runs process them. Every server
test starts from there (`ensure_videos_processed` does it when an earlier test has not).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

from face_assets_tests.e2e import dagster_api as api
from face_assets_tests.e2e.servers import FIXTURE_LIBRARY, Servers, wait_for

# slideshow_07: Ariel Sharon and Donald Rumsfeld, creators with profile pictures (auto-tags expected);
# slideshow_08: a person who is not a creator. Both short (10 s and 4 s).
NEW_VIDEOS = ("slideshow_07.mp4", "slideshow_08.mp4")
SENSOR_TIMEOUT_SECONDS = 420
RUN_TIMEOUT_SECONDS = 420


def copy_new_videos(servers: Servers) -> list[str]:
    paths = []
    for name in NEW_VIDEOS:
        target = servers.library / name
        if not target.exists():
            shutil.copyfile(FIXTURE_LIBRARY / "videos" / name, target)
        paths.append(str(target))
    return paths


def registered_videos(servers: Servers) -> dict[str, int]:
    """Library path -> videos.id of the copied files the scanner registered."""
    paths = [str(servers.library / name) for name in NEW_VIDEOS]
    return dict(servers.app("SELECT file_path, id FROM videos WHERE file_path = ANY(%s)", (paths,)))


def sensor_runs(servers: Servers) -> list[dict]:
    return api.runs(servers, job_name="process_videos", tags={"dagster/sensor_name": "library_sensor"})


def run_partitions(servers: Servers, runs: list[dict]) -> list[str]:
    """The video partitions the runs cover: one partition, or a range (the sensor batches new videos)."""
    keys = api.video_partition_keys(servers)  # in the partitions' order, which ranges follow
    covered = []
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        if "dagster/partition" in tags:
            covered.append(tags["dagster/partition"])
        else:
            start, end = tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]
            covered += keys[keys.index(start) : keys.index(end) + 1]
    return covered


def videos_processed(servers: Servers) -> dict[str, int] | None:
    """The registered videos once each has a 'processed' scan and the sensor's runs are all finished."""
    videos = registered_videos(servers)
    if len(videos) < len(NEW_VIDEOS):
        return None
    ids = list(videos.values())
    processed = servers.app(
        "SELECT count(*) FROM video_face_scans WHERE video_id = ANY(%s) AND status = 'processed'", (ids,)
    )[0][0]
    runs = sensor_runs(servers)
    if (
        processed < len(ids)
        or any(r["status"] not in api.FINISHED_RUN for r in runs)
        or not ({str(i) for i in ids} <= set(run_partitions(servers, runs)))
    ):
        return None
    return videos


def ensure_videos_processed(servers: Servers) -> dict[str, int]:
    """Copy the new videos (when not yet there) and wait until the sensor's runs have processed them."""
    copy_new_videos(servers)
    return wait_for(
        lambda: (servers.check_alive(), videos_processed(servers))[1],
        SENSOR_TIMEOUT_SECONDS,
        "library_sensor registering and processing the new videos",
        interval=3,
        on_timeout=lambda: f"runs: {sensor_runs(servers)}\n{servers.log_tail('daemon')}",
    )


@dataclass(frozen=True)
class Snapshot:
    """What the video assets wrote for some videos, in comparable form."""

    detection_ids: tuple[int, ...]
    detections: tuple[tuple, ...]  # content per face, sorted: video, frame, box, score, embedding (rounded)
    duplicates: int  # faces stored twice (same video, frame and box)
    frames: tuple[tuple, ...]
    scans: tuple[tuple, ...]
    tags: tuple[tuple, ...]  # video_creators rows of the videos

    @property
    def count(self) -> int:
        return len(self.detections)

    def differences(self, other: Snapshot) -> list[str]:
        out = []
        for name in ("detections", "frames", "scans", "tags"):
            mine, theirs = set(getattr(self, name)), set(getattr(other, name))
            if mine != theirs:
                out.append(
                    f"{name}: {len(mine - theirs)} only before, {len(theirs - mine)} only after; "
                    f"e.g. {sorted(mine - theirs)[:2]} / {sorted(theirs - mine)[:2]}"
                )
        return out


def snapshot(servers: Servers, video_ids) -> Snapshot:
    ids = sorted(int(v) for v in video_ids)
    rows = servers.app(
        "SELECT id, video_id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height, quality_score, embedding::text"
        " FROM video_face_detections WHERE video_id = ANY(%s) ORDER BY id",
        (ids,),
    )
    detections = []
    for _id, video, frame, x, y, w, h, score, embedding in rows:
        vector = tuple(round(float(v), 3) for v in embedding.strip("[]").split(","))
        detections.append((video, frame, round(x, 1), round(y, 1), round(w, 1), round(h, 1), round(score, 3), vector))
    duplicates = servers.app(
        "SELECT count(*) FROM (SELECT 1 FROM video_face_detections WHERE video_id = ANY(%s)"
        " GROUP BY video_id, frame_index, round(bbox_x::numeric, 1), round(bbox_y::numeric, 1),"
        " round(bbox_width::numeric, 1), round(bbox_height::numeric, 1) HAVING count(*) > 1) d",
        (ids,),
    )[0][0]
    frames = servers.app(
        "SELECT video_id, frame_index, round(timestamp_seconds::numeric, 3), width, height FROM video_frames"
        " WHERE video_id = ANY(%s)",
        (ids,),
    )
    scans = servers.app("SELECT video_id, status, frames, faces FROM video_face_scans WHERE video_id = ANY(%s)", (ids,))
    tags = servers.app("SELECT * FROM video_creators WHERE video_id = ANY(%s)", (ids,))
    tags = [tuple(str(v) for v in row) for row in tags]
    return Snapshot(
        tuple(r[0] for r in rows),
        tuple(sorted(detections)),
        duplicates,
        tuple(sorted(frames)),
        tuple(sorted(scans)),
        tuple(sorted(tags)),
    )


def tag_rows(servers: Servers, video_ids) -> list[tuple]:
    """The creators tagged on the videos, with the tag's source: (video_id, creator_id, source)."""
    columns = {
        r[0]
        for r in servers.app("SELECT column_name FROM information_schema.columns WHERE table_name = 'video_creators'")
    }
    source = "source" if "source" in columns else "NULL"
    return sorted(
        servers.app(
            f"SELECT video_id, creator_id, {source} FROM video_creators WHERE video_id = ANY(%s)",
            ([int(v) for v in video_ids],),
        )
    )


def timed(label: str, timings: dict, start: float) -> None:
    timings[label] = round(time.monotonic() - start, 1)
