"""Scanning the library roots: new files are registered as videos, known ones verified, vanished ones flagged.

One call of `scan_library` is one scan (one sensor tick) in one transaction:

- Roots are the active `watched_directories` rows plus FACE_ASSETS_LIBRARY (a row is inserted, inactive, for an
  environment root that has none, as its videos' `directory_id`). A root that is missing (disk unmounted) is
  reported and its videos are left as they are: unknown is not unavailable. The same goes for a directory that
  cannot be read.
- Video files (by extension, case-insensitive) are found with os.scandir; hidden entries are skipped; a symbolic
  link is followed only when its target lies inside the root.
- A file no video points at is 'waiting' in `library_files` until its size and mtime held still over two scans
  (a file being copied keeps waiting), then probed and hashed: 'registered' with a new `videos` row, or 'error'
  with the reason, not retried until its size or mtime changes. With `settled_after` (the sensor passes
  FACE_ASSETS_SETTLE_SECONDS), a file whose mtime is at least that old at the scan counts as stable at once: no
  write touched it for that long, the same evidence the two scans give (a finished file moved in is registered by
  the first scan instead of waiting an interval for the second). A new file whose content hash equals that of a
  video whose file is gone is that video moved: same id, new path, no wait.
- Videos whose file is found become available and verified; videos under a present root whose file is not
  found become unavailable (their partitions and faces stay).

Everything set-based: the found files are COPYed into a temporary table and joined with `videos`, so the cost
does not grow with videos that are not on this disk. SQL lives in sql/library/.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import psycopg

from face_assets import settings
from face_assets.db.sql_files import read_sql, run_sql_file
from face_assets.video.probe import VideoError, VideoInfo, content_hash, probe

_LOG_LIMIT = 20  # paths listed per kind of finding in one log

VIDEO_EXTENSIONS = frozenset({".mkv", ".mp4", ".mov", ".wmv", ".avi", ".flv", ".webm", ".m4v", ".mpg", ".mpeg"})

PathLike = str | os.PathLike


def is_video_name(name: str) -> bool:
    """Whether a file name has a video extension (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


class LibraryNotReady(RuntimeError):
    """The database has no `videos` / `watched_directories` / `library_files` table yet."""


@dataclass(frozen=True)
class FileError:
    """A path and why it could not be used (unreadable root or directory, bad video, skipped link)."""

    path: str
    error: str


@dataclass(frozen=True)
class MovedVideo:
    video_id: int
    old_path: str
    new_path: str


@dataclass(frozen=True)
class PresentVideo:
    """A video whose file this scan found: one partition of the per-video assets."""

    video_id: int
    path: str
    file_hash: str | None
    discovered: bool  # registered by the scanner (True) or known from the legacy database (False)

    @property
    def partition_key(self) -> str:
        return str(self.video_id)

    @property
    def run_key(self) -> str:
        """Unique per video and content: a run for the same work is never requested twice."""
        return f"video-{self.video_id}-{self.file_hash or 'nohash'}"


@dataclass
class ScanResult:
    scanned_at: datetime
    roots: list[str] = field(default_factory=list)  # roots found and walked
    roots_missing: list[FileError] = field(default_factory=list)  # roots not there: their videos are left alone
    unreadable_dirs: list[FileError] = field(default_factory=list)  # treated like missing roots
    skipped: list[FileError] = field(default_factory=list)  # links out of the root, broken links, odd names
    files_seen: int = 0  # video files found on disk
    present: list[PresentVideo] = field(default_factory=list)  # videos whose file was found (not deleted ones)
    new_video_ids: list[int] = field(default_factory=list)  # registered by this scan
    moved: list[MovedVideo] = field(default_factory=list)
    returned_video_ids: list[int] = field(default_factory=list)  # were unavailable, file is back
    missing_video_ids: list[int] = field(default_factory=list)  # became unavailable in this scan
    waiting: list[str] = field(default_factory=list)  # files waiting for their size and mtime to settle
    deferred: list[str] = field(default_factory=list)  # stable files left for the next scan (time budget spent)
    errors: list[FileError] = field(default_factory=list)  # files that failed in this scan
    known_errors: list[str] = field(default_factory=list)  # files that failed before, unchanged, not retried

    @property
    def partition_keys(self) -> list[str]:
        return [v.partition_key for v in self.present]

    @property
    def registered_video_ids(self) -> list[int]:
        """Videos the scanner registered (this scan or earlier) whose file is present."""
        return [v.video_id for v in self.present if v.discovered]

    def summary(self) -> dict:
        """Counts (and the missing roots) for logs, cursors and metadata."""
        return {
            "scanned_at": self.scanned_at.isoformat(),
            "roots": len(self.roots),
            "roots_missing": [r.path for r in self.roots_missing],
            "unreadable_dirs": len(self.unreadable_dirs),
            "files_seen": self.files_seen,
            "present_videos": len(self.present),
            "new_videos": len(self.new_video_ids),
            "moved_videos": len(self.moved),
            "returned_videos": len(self.returned_video_ids),
            "missing_videos": len(self.missing_video_ids),
            "waiting_files": len(self.waiting),
            "deferred_files": len(self.deferred),
            "new_errors": len(self.errors),
            "known_errors": len(self.known_errors),
            "skipped": len(self.skipped),
        }

    def then(self, later: ScanResult) -> ScanResult:
        """This scan followed by `later` as one: the later state, the events of both."""
        new_error_paths = {e.path for e in self.errors}
        back = set(later.returned_video_ids) | {v.video_id for v in later.present}
        return replace(
            later,
            new_video_ids=_unique(self.new_video_ids + later.new_video_ids),
            moved=self.moved + later.moved,
            returned_video_ids=_unique(self.returned_video_ids + later.returned_video_ids),
            missing_video_ids=[i for i in _unique(self.missing_video_ids + later.missing_video_ids) if i not in back],
            errors=self.errors + later.errors,
            known_errors=[p for p in later.known_errors if p not in new_error_paths],
        )


def library_ready(conn: psycopg.Connection) -> bool:
    """Whether the tables a scan needs exist (the legacy migration and face_schema have run)."""
    return bool(conn.execute(read_sql("library/ready.sql")).fetchone()[0])


def scan_library(
    conn: psycopg.Connection,
    *,
    extra_roots: Iterable[PathLike] | None = None,
    now_fn: Callable[[], datetime] | None = None,
    probe_fn: Callable[[PathLike], VideoInfo] = probe,
    hash_fn: Callable[[PathLike], str] = content_hash,
    probe_budget_seconds: float | None = None,
    reverify_after: timedelta = timedelta(hours=1),
    settled_after: float | None = None,
) -> ScanResult:
    """One scan of the library roots; see the module docstring.

    `extra_roots` defaults to FACE_ASSETS_LIBRARY. `probe_budget_seconds` bounds the time spent probing and
    hashing stable new files (a sensor tick has a deadline): the rest stay 'waiting', unchanged, for a later
    scan (`deferred`). A present video's `last_verified_at` is rewritten when older than `reverify_after`
    (or when it was not available). `settled_after` (seconds; None or 0: off): a new or changed file whose mtime
    is at least that much older than the scan's time counts as stable without a second scan. Runs in a transaction of its own (a savepoint when `conn` is
    already in one) and holds an advisory lock, so concurrent scans queue instead of registering a file twice.
    Raises LibraryNotReady when the tables do not exist yet.
    """
    now = (now_fn or _utcnow)()
    extra = list(settings.library_roots_from_env() if extra_roots is None else extra_roots)
    result = ScanResult(scanned_at=now)
    with conn.transaction():
        if not library_ready(conn):
            raise LibraryNotReady(
                "the database has no videos/watched_directories/library_files tables yet: "
                "materialize the legacy migration and face_schema first"
            )
        run_sql_file(conn, "library/lock.sql")
        roots = _resolve_roots(conn, extra, result)
        found = _walk_roots(roots, result)
        result.files_seen = len(found)

        run_sql_file(conn, "library/scan_files_create.sql")
        with conn.cursor() as cur, cur.copy(read_sql("library/scan_files_copy.sql")) as copy:
            for f in found:
                copy.write_row((f.path, f.size, f.mtime, f.directory_id))

        verify = {"now": now, "stale_before": now - reverify_after}
        for video_id, was_available in conn.execute(read_sql("library/verify_present.sql"), verify):
            if was_available is False:
                result.returned_video_ids.append(video_id)

        root_prefixes = [_prefix(r.path) for r in roots]
        unknown_prefixes = [_prefix(d.path) for d in result.unreadable_dirs]
        deadline = None if probe_budget_seconds is None else time.monotonic() + probe_budget_seconds
        settled_before = now.timestamp() - settled_after if settled_after else None
        _handle_unknown_files(
            conn, now, result, root_prefixes, unknown_prefixes, probe_fn, hash_fn, deadline, settled_before
        )

        other_paths = [s.path for s in result.skipped if os.path.lexists(s.path)]
        bounds = {"root_prefixes": root_prefixes, "unknown_prefixes": unknown_prefixes}
        result.missing_video_ids = [
            row[0]
            for row in conn.execute(
                read_sql("library/mark_missing.sql"), {**bounds, "other_paths": other_paths, "now": now}
            )
        ]
        conn.execute(read_sql("library/forget_vanished.sql"), bounds)
        result.present = [PresentVideo(*row) for row in conn.execute(read_sql("library/present_videos.sql"))]
    result.returned_video_ids.sort()
    result.missing_video_ids.sort()
    return result


def scan_and_register(
    instance,
    database,
    *,
    settle_seconds: float = 2.0,
    extra_roots: Iterable[PathLike] | None = None,
    now_fn: Callable[[], datetime] | None = None,
    log=None,
    sleep: Callable[[float], None] = time.sleep,
    partitions_name: str = "videos",
) -> ScanResult:
    """The library sensor's work once, in process, for `face-assets run`: scan, then add the partitions the
    Dagster `instance` lacks (`instance.add_dynamic_partitions`; `database` is a PostgresResource).

    Two-tick stability in one command: when the first scan leaves files waiting, it waits `settle_seconds` and
    scans again, so files that are not being written are registered now (0 leaves them waiting). No runs are
    requested: the caller materializes the partitions itself. Raises LibraryNotReady before the migration.
    `partitions_name` is face_assets.defs.library.partitions.video_partitions' name (not imported: no Dagster here).
    """
    with database.connect() as conn:
        result = scan_library(conn, extra_roots=extra_roots, now_fn=now_fn)
    if result.waiting and settle_seconds > 0:
        sleep(settle_seconds)
        with database.connect() as conn:
            result = result.then(scan_library(conn, extra_roots=extra_roots, now_fn=now_fn))
    existing = set(instance.get_dynamic_partitions(partitions_name))
    added = [key for key in result.partition_keys if key not in existing]
    if added:
        instance.add_dynamic_partitions(partitions_name, added)
    if log is not None:
        log_scan(log, result)
        log.info(f"added {len(added)} video partition(s)")
    return result


def log_scan(log, result: ScanResult) -> None:
    """The scan's findings, for a sensor tick's log (`context.log`) or a `logging.Logger`."""
    s = result.summary()
    log.info(
        f"library scan: {s['roots']} root(s), {s['files_seen']} video file(s), {s['present_videos']} present "
        f"video(s); new {s['new_videos']}, moved {s['moved_videos']}, returned {s['returned_videos']}, "
        f"unavailable now {s['missing_videos']}, waiting {s['waiting_files']}, new errors {s['new_errors']}, "
        f"known errors {s['known_errors']}"
    )
    for root in result.roots_missing:
        log.warning(f"library root {root.path}: {root.error}")
    for item in result.unreadable_dirs[:_LOG_LIMIT]:
        log.warning(f"{item.path}: {item.error}")
    for item in result.errors[:_LOG_LIMIT]:
        log.warning(f"not a usable video, skipped until it changes: {item.path}: {item.error}")
    for item in result.skipped[:_LOG_LIMIT]:
        log.info(f"skipped {item.path}: {item.error}")
    for moved in result.moved[:_LOG_LIMIT]:
        log.info(f"video {moved.video_id} moved: {moved.old_path} -> {moved.new_path}")
    if result.new_video_ids:
        log.info(f"registered videos: {_ids(result.new_video_ids)}")
    if result.returned_video_ids:
        log.info(f"files back, available again: videos {_ids(result.returned_video_ids)}")
    if result.missing_video_ids:
        log.info(f"files gone, now unavailable: videos {_ids(result.missing_video_ids)}")
    if result.deferred:
        log.info(f"{len(result.deferred)} stable new file(s) left for the next scan (time budget spent)")
    if result.waiting:
        log.info(
            f"waiting for {len(result.waiting)} file(s) to stop changing: {', '.join(result.waiting[:_LOG_LIMIT])}"
        )


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:_LOG_LIMIT])
    return shown + (f" ... ({len(ids)} in all)" if len(ids) > _LOG_LIMIT else "")


# --- roots and walking ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Root:
    path: str
    directory_id: int


@dataclass(frozen=True)
class _Found:
    path: str
    size: int
    mtime: float
    directory_id: int
    real: str
    via_link: bool


def _resolve_roots(conn: psycopg.Connection, extra: Sequence[PathLike], result: ScanResult) -> list[_Root]:
    rows = conn.execute(read_sql("library/watched_directories.sql")).fetchall()
    row_ids = {}
    for row_id, path, _active in rows:
        row_ids.setdefault(_norm(path), row_id)
    wanted: dict[str, int | None] = {}
    for row_id, path, active in rows:
        if active:
            wanted.setdefault(_norm(path), row_id)
    for path in extra:
        norm = _norm(os.fspath(path))
        wanted.setdefault(norm, row_ids.get(norm))

    roots = []
    for path, row_id in wanted.items():
        problem = _root_problem(path)
        if problem:
            result.roots_missing.append(FileError(path, problem))
            continue
        if row_id is None:
            row_id = conn.execute(read_sql("library/ensure_root.sql"), {"path": path}).fetchone()[0]
        roots.append(_Root(path, row_id))
    result.roots = [r.path for r in roots]
    return roots


def _root_problem(path: str) -> str | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "root does not exist (disk not mounted?); its videos are left as they are"
    except OSError as exc:
        return f"root cannot be accessed: {_describe(exc)}; its videos are left as they are"
    if not stat.S_ISDIR(st.st_mode):
        return "root is not a directory; its videos are left as they are"
    return None


def _walk_roots(roots: Sequence[_Root], result: ScanResult) -> list[_Found]:
    """Every video file under the roots, one entry per path (a nested root's own row wins)."""
    found: dict[str, _Found] = {}
    for root in sorted(roots, key=lambda r: len(r.path), reverse=True):
        try:
            files = _walk_root(root, result)
        except _RootGone as gone:
            result.roots.remove(root.path)
            result.roots_missing.append(FileError(root.path, f"root cannot be read: {gone}"))
            continue
        for f in files:
            found.setdefault(f.path, f)
    return sorted(found.values(), key=lambda f: f.path)


class _RootGone(Exception):
    pass


def _walk_root(root: _Root, result: ScanResult) -> list[_Found]:
    """os.scandir recursion; links are followed only inside the root, directories at most once each."""
    real_root = os.path.realpath(root.path)
    inside_prefix = _prefix(real_root)

    def inside(real: str) -> bool:
        return real == real_root or real.startswith(inside_prefix)

    visited: set[str] = set()
    dirs = [(root.path, real_root)]
    linked_dirs: list[tuple[str, str]] = []  # walked after the real tree, so real paths win over aliases
    files: list[_Found] = []
    while dirs or linked_dirs:
        path, real = dirs.pop() if dirs else linked_dirs.pop(0)
        if real in visited:
            continue
        visited.add(real)
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if path == root.path:
                raise _RootGone(_describe(exc)) from exc
            result.unreadable_dirs.append(FileError(path, f"directory cannot be read: {_describe(exc)}"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden: .Trash, AppleDouble "._x.mp4", partial downloads
            try:
                if entry.is_symlink():
                    _follow_link(entry, root, inside, files, linked_dirs, result)
                elif entry.is_dir(follow_symlinks=False):
                    dirs.append((entry.path, os.path.join(real, entry.name)))
                elif is_video_name(entry.name) and entry.is_file(follow_symlinks=False):
                    _add_file(
                        entry.path,
                        entry.stat(follow_symlinks=False),
                        root,
                        os.path.join(real, entry.name),
                        False,
                        files,
                        result,
                    )
            except OSError as exc:  # vanished or unreadable between listing and stat
                if is_video_name(entry.name):
                    result.skipped.append(FileError(entry.path, f"cannot be examined: {_describe(exc)}"))

    # One path per real file: the real path over a link to it, then the smallest path.
    best: dict[str, _Found] = {}
    for f in files:
        kept = best.get(f.real)
        if kept is None or (f.via_link, f.path) < (kept.via_link, kept.path):
            best[f.real] = f
    return list(best.values())


def _follow_link(entry: os.DirEntry, root: _Root, inside, files, linked_dirs, result: ScanResult) -> None:
    target = os.path.realpath(entry.path)
    try:
        st = os.stat(entry.path)
    except OSError:
        if is_video_name(entry.name):
            result.skipped.append(FileError(entry.path, f"broken symbolic link (to {target})"))
        return
    is_dir = stat.S_ISDIR(st.st_mode)
    if not is_dir and not (is_video_name(entry.name) and stat.S_ISREG(st.st_mode)):
        return  # not a video: ignored like any other file
    if not inside(target):
        result.skipped.append(FileError(entry.path, f"symbolic link to {target}, outside the root {root.path}"))
        return
    if is_dir:
        linked_dirs.append((entry.path, target))
    else:
        _add_file(entry.path, st, root, target, True, files, result)


def _add_file(path: str, st: os.stat_result, root: _Root, real: str, via_link: bool, files, result) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        result.skipped.append(
            FileError(path.encode("utf-8", "replace").decode("utf-8"), "file name is not valid UTF-8")
        )
        return
    files.append(_Found(path, st.st_size, st.st_mtime, root.directory_id, real, via_link))


# --- files no video points at ----------------------------------------------------------------------------------


def _handle_unknown_files(
    conn,
    now,
    result: ScanResult,
    root_prefixes,
    unknown_prefixes,
    probe_fn,
    hash_fn,
    deadline: float | None,
    settled_before: float | None = None,
):
    rows = conn.execute(read_sql("library/unknown_files.sql")).fetchall()
    todo = []
    for path, size, mtime, directory_id, status, known_size, known_mtime in rows:
        unchanged = known_size == size and known_mtime == mtime
        if status == "error" and unchanged:
            result.known_errors.append(path)
        else:
            # Stable: unchanged since the last scan saw it waiting, or untouched for `settled_after` already.
            settled = settled_before is not None and mtime <= settled_before
            todo.append((path, size, mtime, directory_id, (status == "waiting" and unchanged) or settled))
    if not todo:
        return

    gone = _gone_videos_by_size(conn, {t[1] for t in todo}, root_prefixes, unknown_prefixes)
    upserts = []
    for path, size, mtime, directory_id, stable in todo:
        state = {"path": path, "size_bytes": size, "mtime": mtime, "video_id": None, "error": None, "now": now}
        digest = None
        candidates = gone.get(size)
        if candidates:
            try:
                digest = hash_fn(path)
            except Exception:
                digest = None
            match = next((c for c in candidates if c[2] == digest), None) if digest else None
            if match:
                candidates.remove(match)
                video_id, old_path, _ = match
                conn.execute(
                    read_sql("library/move_video.sql"),
                    {
                        "video_id": video_id,
                        "old_path": old_path,
                        "path": path,
                        "file_name": os.path.basename(path),
                        "directory_id": directory_id,
                        "size_bytes": size,
                        "now": now,
                    },
                )
                result.moved.append(MovedVideo(video_id, old_path, path))
                upserts.append({**state, "status": "registered", "video_id": video_id})
                continue
        if not stable:
            result.waiting.append(path)
            upserts.append({**state, "status": "waiting"})
            continue
        if deadline is not None and time.monotonic() > deadline:
            result.deferred.append(path)  # row left as it is: still stable next scan
            continue
        try:
            info = probe_fn(path)
            digest = digest or hash_fn(path)
        except Exception as exc:
            error = _describe(exc)
            result.errors.append(FileError(path, error))
            upserts.append({**state, "status": "error", "error": error})
            continue
        video_id = conn.execute(
            read_sql("library/insert_video.sql"),
            {
                "path": path,
                "file_name": os.path.basename(path),
                "directory_id": directory_id,
                "size_bytes": size,
                "file_hash": digest,
                "duration_seconds": info.duration_seconds,
                "width": info.width,
                "height": info.height,
                "fps": info.fps,
                "codec": info.codec,
                "now": now,
            },
        ).fetchone()[0]
        result.new_video_ids.append(video_id)
        upserts.append({**state, "status": "registered", "video_id": video_id})

    with conn.cursor() as cur:
        cur.executemany(read_sql("library/upsert_library_file.sql"), upserts)


def _gone_videos_by_size(conn, sizes, root_prefixes, unknown_prefixes) -> dict[int, list[tuple[int, str, str]]]:
    """Videos with one of these sizes whose file is known to be gone (under a present root, not found)."""
    gone: dict[int, list[tuple[int, str, str]]] = {}
    rows = conn.execute(read_sql("library/move_candidates.sql"), {"sizes": sorted(sizes)}).fetchall()
    for video_id, old_path, size, file_hash in rows:
        if not any(old_path.startswith(p) for p in root_prefixes):
            continue  # its disk may just not be mounted: a copy, not a move
        if any(old_path.startswith(p) for p in unknown_prefixes) or os.path.lexists(old_path):
            continue
        gone.setdefault(size, []).append((video_id, old_path, file_hash))
    return gone


# --- helpers ---------------------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _norm(path: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(str(path))))


def _prefix(path: str) -> str:
    """`path` as a directory prefix: every path under it starts with this."""
    return path.rstrip(os.sep) + os.sep


def _describe(exc: BaseException) -> str:
    if isinstance(exc, VideoError):
        return exc.reason
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def _unique(ids: Iterable[int]) -> list[int]:
    return sorted(set(ids))
