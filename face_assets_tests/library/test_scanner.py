"""The library scanner on the migrated fixture library and on throwaway roots (no Dagster here)."""

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from face_assets.library.scanner import VIDEO_EXTENSIONS, is_video_name, scan_library
from face_assets.video.probe import content_hash
from face_assets_tests.conftest import LIBRARY

VIDEOS = LIBRARY / "videos"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def tmp_only_db(module_migrated_db):
    """The migrated database with its watched directory switched off: only the roots a test passes are scanned.

    Shared by the tests on throwaway roots: a scan only touches videos under the roots it is given.
    """
    with psycopg.connect(module_migrated_db) as conn:
        conn.execute("UPDATE watched_directories SET is_active = false")
    return module_migrated_db


class Scanner:
    def __init__(self, url, roots=()):
        self.url, self.roots, self.ticks = url, [str(r) for r in roots], 0

    def __call__(self, **kwargs):
        self.ticks += 1
        now = T0 + timedelta(minutes=self.ticks)
        with psycopg.connect(self.url) as conn:
            return scan_library(conn, extra_roots=self.roots, now_fn=lambda: now, **kwargs)

    def query(self, query, params=None):
        with psycopg.connect(self.url) as conn:
            return conn.execute(query, params).fetchall()

    def library_file(self, path):
        rows = self.query("SELECT status, video_id, error FROM library_files WHERE path = %s", (str(path),))
        return rows[0] if rows else None

    def video(self, video_id):
        return self.query(
            "SELECT file_path, file_name, is_available, file_hash FROM videos WHERE id = %s", (video_id,)
        )[0]


def write_in_chunks(src: Path, dst: Path, parts: int):
    """Yields after each chunk of `src` appended to `dst`, like a copy in progress."""
    data = src.read_bytes()
    step = -(-len(data) // parts)
    with dst.open("wb") as fh:
        for i in range(0, len(data), step):
            fh.write(data[i : i + step])
            fh.flush()
            yield


def test_video_extensions():
    assert VIDEO_EXTENSIONS == {".mkv", ".mp4", ".mov", ".wmv", ".avi", ".flv", ".webm", ".m4v", ".mpg", ".mpeg"}
    assert is_video_name("a.MKV") and is_video_name("b.Mpeg") and is_video_name("c.d.webm")
    assert not is_video_name("notes.txt") and not is_video_name("clip.mp4.part") and not is_video_name("mp4")


def test_fixture_library(migrated_db, truth):
    db = migrated_db
    scan = Scanner(db)
    legacy = {str(LIBRARY / rel): vid for rel, vid in truth["legacy_video_ids"].items()}
    new_files = [str(LIBRARY / rel) for rel in truth["new_files_not_in_legacy_db"]]
    broken = [str(LIBRARY / rel) for rel in truth["broken_files"]]

    first = scan()
    assert first.roots == [str(VIDEOS)] and first.roots_missing == []
    assert {v.video_id for v in first.present} == set(legacy.values())
    assert not any(v.discovered for v in first.present)
    assert {(v.path, v.video_id) for v in first.present} == set(legacy.items())
    assert sorted(first.waiting) == sorted(new_files + broken)
    assert first.new_video_ids == [] and first.errors == []
    available = scan.query("SELECT id, last_verified_at FROM videos WHERE is_available ORDER BY id")
    assert available == [(i, T0 + timedelta(minutes=1)) for i in sorted(legacy.values())]
    # the rest of the legacy videos point at files that are not on this disk: under the present root, so gone
    assert (
        len(first.missing_video_ids)
        == scan.query(
            "SELECT count(*) FROM videos WHERE NOT is_available AND updated_at = %s", (T0 + timedelta(minutes=1),)
        )[0][0]
    )
    assert scan.query("SELECT count(*) FROM videos WHERE NOT is_available")[0][0] == 2091 - 10
    assert scan.query("SELECT count(*) FROM library_files WHERE path LIKE '%%notes.txt'")[0][0] == 0
    assert scan.query("SELECT status, count(*) FROM library_files GROUP BY 1") == [("waiting", 6)]

    second = scan()
    assert len(second.new_video_ids) == 3 and second.waiting == [] and second.missing_video_ids == []
    assert {e.path for e in second.errors} == set(broken)
    by_path = {v.path: v for v in second.present}
    assert len(second.present) == 13
    for rel in truth["new_files_not_in_legacy_db"]:
        path = str(LIBRARY / rel)
        video = by_path[path]
        assert video.discovered and video.video_id in second.new_video_ids and video.video_id > 2091
        assert video.file_hash == content_hash(path)
        name, directory, size, duration, width, height, fps, codec, available = scan.query(
            "SELECT file_name, directory_id, file_size_bytes, duration_seconds, width, height, fps, codec,"
            " is_available FROM videos WHERE id = %s",
            (video.video_id,),
        )[0]
        expected = truth["videos"][rel]
        assert name == os.path.basename(path) and directory == 1 and size == os.path.getsize(path)
        assert duration == pytest.approx(expected["duration"], abs=0.25)
        assert (width, height) == (expected["width"], expected["height"])
        assert fps > 0 and codec and available
        assert scan.library_file(path) == ("registered", video.video_id, None)
    # verified a minute ago: not rewritten on every scan
    assert scan.query("SELECT DISTINCT last_verified_at FROM videos WHERE id = ANY(%s)", (list(legacy.values()),)) == [
        (T0 + timedelta(minutes=1),)
    ]
    errors = dict(scan.query("SELECT path, error FROM library_files WHERE status = 'error'"))
    assert set(errors) == set(broken)
    assert "empty" in errors[str(VIDEOS / "broken/empty.mp4")]
    assert "truncated" in errors[str(VIDEOS / "broken/truncated.mp4")]
    assert "text" in errors[str(VIDEOS / "broken/not_a_video.mp4")]

    third = scan()
    assert third.new_video_ids == [] and third.errors == [] and third.waiting == []
    assert sorted(third.known_errors) == sorted(broken)
    assert [v.video_id for v in third.present] == [v.video_id for v in second.present]
    assert third.returned_video_ids == [] and third.missing_video_ids == []

    # The root disappears (disk unmounted): reported, and its videos are left alone: unknown is not unavailable.
    gone = str(VIDEOS) + "-unmounted"
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE watched_directories SET path = %s WHERE id = 1", (gone,))
        conn.execute(
            "UPDATE videos SET file_path = %s || substr(file_path, %s) WHERE directory_id = 1",
            (gone, len(str(VIDEOS)) + 1),
        )
    fourth = scan()
    assert [r.path for r in fourth.roots_missing] == [gone] and "does not exist" in fourth.roots_missing[0].error
    assert fourth.roots == [] and fourth.present == [] and fourth.missing_video_ids == []
    assert scan.query("SELECT count(*) FROM videos WHERE is_available")[0][0] == 13


def test_copy_while_writing_waits_until_stable(tmp_only_db, tmp_path):
    root = tmp_path / "library"
    root.mkdir()
    scan = Scanner(tmp_only_db, [root])
    target = root / "incoming.mp4"
    copying = write_in_chunks(VIDEOS / "slideshow_07.mp4", target, parts=3)

    next(copying)
    assert scan().waiting == [str(target)]
    next(copying)
    result = scan()  # grew since the last scan: still waiting
    assert result.waiting == [str(target)] and result.new_video_ids == [] and result.errors == []
    next(copying)
    copying.close()
    result = scan()
    assert result.waiting == [str(target)] and result.new_video_ids == []
    assert scan.library_file(target)[0] == "waiting"

    result = scan()  # unchanged over two scans: registered
    assert len(result.new_video_ids) == 1 and result.errors == []
    (video_id,) = result.new_video_ids
    assert scan.video(video_id)[:3] == (str(target), "incoming.mp4", True)
    # an environment root gets a watched_directories row (inactive: the variable stays the source of truth)
    assert scan.query(
        "SELECT v.directory_id = w.id, w.is_active FROM videos v JOIN watched_directories w"
        " ON w.path = %s WHERE v.id = %s",
        (str(root), video_id),
    ) == [(True, False)]


def test_settled_after_takes_an_old_enough_file_at_first_sight(tmp_only_db, tmp_path):
    root = tmp_path / "library"
    root.mkdir()
    scan = Scanner(tmp_only_db, [root])
    first_scan = (T0 + timedelta(minutes=1)).timestamp()  # the Scanner's clock at its next scan
    finished, young, future = root / "finished.mp4", root / "young.mp4", root / "future.mp4"
    for name, target in (("slideshow_08.mp4", finished), ("slideshow_07.mp4", young), ("slideshow_01.mp4", future)):
        shutil.copyfile(VIDEOS / name, target)
    os.utime(finished, (first_scan - 30, first_scan - 30))  # untouched for exactly settled_after
    os.utime(young, (first_scan - 29, first_scan - 29))  # touched within it: maybe still being written
    os.utime(future, (first_scan + 600, first_scan + 600))  # a clock ahead of ours (network disk): no evidence

    result = scan(settled_after=30)
    assert len(result.new_video_ids) == 1 and result.errors == []
    assert scan.video(result.new_video_ids[0])[0] == str(finished)
    assert sorted(result.waiting) == [str(future), str(young)]

    with young.open("ab") as fh:  # then finished by a copy that keeps times (`cp -p` sets the old time last)
        fh.write(b"\0")
    os.utime(young, (first_scan - 3600, first_scan - 3600))
    os.utime(future, (first_scan + 601, first_scan + 601))  # still changing
    result = scan(settled_after=30)
    assert len(result.new_video_ids) == 1 and result.waiting == [str(future)]  # young: changed, but done long ago
    result = scan(settled_after=30)  # future: held still over two scans
    assert len(result.new_video_ids) == 1 and result.waiting == []

    other = root / "other.mp4"  # without settled_after: the two-scan rule, however old the file
    shutil.copyfile(VIDEOS / "slideshow_02.mp4", other)
    os.utime(other, (first_scan - 3600, first_scan - 3600))
    assert scan().waiting == [str(other)]
    assert len(scan().new_video_ids) == 1


def test_probing_time_budget_defers_stable_files(tmp_only_db, tmp_path):
    root = tmp_path / "library"
    root.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copyfile(VIDEOS / "slideshow_08.mp4", root / name)
    scan = Scanner(tmp_only_db, [root])
    assert len(scan().waiting) == 2
    result = scan(probe_budget_seconds=0)  # a tick whose time is up: stable files wait for the next one
    assert result.deferred == [str(root / "a.mp4"), str(root / "b.mp4")] and result.new_video_ids == []
    assert {scan.library_file(root / n)[0] for n in ("a.mp4", "b.mp4")} == {"waiting"}
    result = scan()
    assert len(result.new_video_ids) == 2 and result.deferred == [] and result.waiting == []


def test_deleted_restored_and_moved_files(tmp_only_db, tmp_path):
    root = tmp_path / "library"
    (root / "sub").mkdir(parents=True)
    scan = Scanner(tmp_only_db, [root])
    original = root / "a.mp4"
    shutil.copyfile(VIDEOS / "slideshow_08.mp4", original)
    shutil.copyfile(VIDEOS / "slideshow_07.mp4", root / "other.mp4")
    scan()
    (video_id, other_id) = scan().new_video_ids

    original.unlink()
    result = scan()
    assert result.missing_video_ids == [video_id] and result.new_video_ids == []
    assert scan.video(video_id)[2] is False and scan.video(other_id)[2] is True
    assert [v.video_id for v in result.present] == [other_id]

    shutil.copyfile(VIDEOS / "slideshow_08.mp4", original)
    result = scan()
    assert result.returned_video_ids == [video_id] and result.new_video_ids == [] and result.waiting == []
    assert scan.video(video_id)[2] is True

    moved = root / "sub" / "renamed.mp4"
    original.rename(moved)
    result = scan()  # same content hash, old path gone: the same video, at once
    assert [(m.video_id, m.old_path, m.new_path) for m in result.moved] == [(video_id, str(original), str(moved))]
    assert result.new_video_ids == [] and result.waiting == [] and result.missing_video_ids == []
    assert scan.video(video_id)[:3] == (str(moved), "renamed.mp4", True)
    assert scan.library_file(moved) == ("registered", video_id, None) and scan.library_file(original) is None
    assert {v.video_id: v.discovered for v in result.present} == {video_id: True, other_id: True}

    # a copy (the original still there) is a new video, after the usual wait
    shutil.copyfile(moved, root / "copy.mp4")
    assert scan().waiting == [str(root / "copy.mp4")]
    (copy_id,) = scan().new_video_ids
    assert copy_id not in (video_id, other_id)
    assert scan.video(copy_id)[3] == scan.video(video_id)[3]


def test_links_extensions_hidden_files_and_missing_roots(tmp_only_db, tmp_path):
    root = tmp_path / "library"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copyfile(VIDEOS / "slideshow_08.mp4", root / "UPPER.MP4")
    shutil.copyfile(VIDEOS / "slideshow_01.mp4", root / "sub" / "inner.mkv")
    shutil.copyfile(VIDEOS / "slideshow_07.mp4", outside / "outside.mp4")
    shutil.copyfile(VIDEOS / "slideshow_02.mp4", root / ".hidden.mp4")
    shutil.copyfile(VIDEOS / "slideshow_02.mp4", root / "clip.mp4.part")
    shutil.copyfile(VIDEOS / "notes.txt", root / "notes.txt")
    (root / "out.mp4").symlink_to(outside / "outside.mp4")  # leaves the root: not followed
    (root / "out_dir").symlink_to(outside, target_is_directory=True)
    (root / "alias.mkv").symlink_to(root / "sub" / "inner.mkv")  # inside, but the real file is walked already
    (root / "loop").symlink_to(root, target_is_directory=True)  # inside: followed, but a directory only once
    (root / "dangling.mp4").symlink_to(tmp_path / "nothing.mp4")
    missing_root = tmp_path / "unmounted"
    not_a_dir = root / "notes.txt"

    scan = Scanner(tmp_only_db, [root, missing_root, not_a_dir])
    first = scan()
    assert first.roots == [str(root)]
    assert {r.path: r.error for r in first.roots_missing}.keys() == {str(missing_root), str(not_a_dir)}
    assert "does not exist" in {r.path: r.error for r in first.roots_missing}[str(missing_root)]
    assert sorted(first.waiting) == [str(root / "UPPER.MP4"), str(root / "sub" / "inner.mkv")]
    skipped = {s.path: s.error for s in first.skipped}
    assert set(skipped) == {str(root / "out.mp4"), str(root / "out_dir"), str(root / "dangling.mp4")}
    assert "outside the root" in skipped[str(root / "out.mp4")] and "broken" in skipped[str(root / "dangling.mp4")]
    assert len(scan().new_video_ids) == 2
    assert scan.query("SELECT count(*) FROM watched_directories WHERE path = %s", (str(missing_root),)) == [(0,)]


def test_bad_files_never_stop_a_scan(tmp_only_db, tmp_path, monkeypatch):
    root = tmp_path / "library"
    (root / "locked").mkdir(parents=True)
    (root / "empty.mp4").write_bytes(b"")
    (root / "fake.mov").write_text("this is not a video\n")
    data = (VIDEOS / "slideshow_07.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    unreadable = root / "unreadable.mp4"
    shutil.copyfile(VIDEOS / "slideshow_08.mp4", unreadable)
    unreadable.chmod(0)
    shutil.copyfile(VIDEOS / "slideshow_01.mp4", root / "locked" / "fine.mp4")
    shutil.copyfile(VIDEOS / "slideshow_02.mp4", root / "good.webm")  # an mp4 under another extension: still a video
    scan = Scanner(tmp_only_db, [root])
    try:
        scan()
        result = scan()
    finally:
        unreadable.chmod(0o644)
    errors = {e.path: e.error for e in result.errors}
    bad = {str(root / n) for n in ("empty.mp4", "fake.mov", "truncated.mp4")}
    assert bad <= set(errors)
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        assert "Permission denied" in errors[str(unreadable)]
    assert len(result.new_video_ids) == len({"good.webm", "locked/fine.mp4"}) + (str(unreadable) not in errors)
    assert scan.query("SELECT count(*) FROM library_files WHERE status = 'error'")[0][0] == len(errors)

    # errors are not retried while the file is unchanged; a change puts it back in line
    result = scan()
    assert result.errors == [] and set(result.known_errors) == set(errors)
    (root / "fake.mov").write_text("still not a video, but changed\n")
    result = scan()
    assert result.waiting == [str(root / "fake.mov")] and scan.library_file(root / "fake.mov")[0] == "waiting"
    assert [e.path for e in scan().errors] == [str(root / "fake.mov")]

    # a directory that cannot be read is reported, and its videos are not marked unavailable
    fine_id = scan.query("SELECT id FROM videos WHERE file_path = %s", (str(root / "locked" / "fine.mp4"),))[0][0]
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(root / "locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = scan()
    assert [d.path for d in result.unreadable_dirs] == [str(root / "locked")]
    assert result.missing_video_ids == [] and scan.video(fine_id)[2] is True

    # probing that blows up in an unexpected way is an error too, not a crash
    shutil.copyfile(VIDEOS / "slideshow_03.mp4", root / "odd.mp4")
    scan()

    def exploding_probe(path):
        raise RuntimeError("decoder crashed")

    result = scan(probe_fn=exploding_probe)
    assert [(e.path, e.error) for e in result.errors] == [(str(root / "odd.mp4"), "RuntimeError: decoder crashed")]
