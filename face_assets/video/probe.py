"""Video file facts: container metadata through OpenCV (FFmpeg backend) and a cheap content hash."""

from __future__ import annotations

import codecs
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2

PathLike = str | os.PathLike

_SAMPLE = 1 << 20  # 1 MiB per hashed region


class VideoError(Exception):
    """A file that cannot be used as a video, with a human-readable reason."""

    def __init__(self, path: PathLike, reason: str):
        super().__init__(str(path), reason)  # both in args, so the error survives pickling between processes
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class VideoInfo:
    duration_seconds: float
    width: int
    height: int
    fps: float
    codec: str | None  # FourCC as OpenCV reports it, e.g. 'avc1', 'h264', 'FMP4'; None when unknown
    frame_count: int


def open_capture(path: PathLike) -> cv2.VideoCapture:
    """An opened FFmpeg capture, or VideoError saying why the file is not a readable video."""
    p = Path(path)
    if not p.exists():
        raise VideoError(path, "file does not exist")
    if not p.is_file():
        raise VideoError(path, "not a regular file")
    size = p.stat().st_size
    if size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    # FFmpeg explicitly: other OpenCV backends (image sequences) would "open" things that are not videos.
    cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise VideoError(path, f"OpenCV/FFmpeg cannot open it as a video: {_diagnose(p, size)}")
    return cap


def probe(path: PathLike) -> VideoInfo:
    """Duration, size, frame rate and codec from the container, checking that the first frame decodes."""
    cap = open_capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        codec = _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
        if fps <= 0 or frame_count <= 0:
            raise VideoError(path, f"duration is zero or unknown (frame count {frame_count}, {fps:g} fps)")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(path, "the first frame cannot be decoded (damaged or truncated file)")
        if width <= 0 or height <= 0:
            height, width = frame.shape[:2]
        return VideoInfo(
            duration_seconds=frame_count / fps,
            width=width,
            height=height,
            fps=fps,
            codec=codec,
            frame_count=frame_count,
        )
    finally:
        cap.release()


def content_hash(path: PathLike) -> str:
    """blake2b-128 (hex) of the file size and its first, middle and last MiB (the whole file when smaller).

    Library files are often several GB on network or USB disks; reading them whole just to notice a rename
    or a move would dominate a scan. Size + three samples tells apart real videos in practice (different
    encodes differ in the first MiB already) while reading at most 3 MiB. It is an identity hint, not an
    integrity check: an edit that keeps the size and touches only unsampled bytes is not seen.
    """
    p = Path(path)
    size = p.stat().st_size
    digest = hashlib.blake2b(digest_size=16)
    digest.update(struct.pack("<Q", size))
    with p.open("rb") as fh:
        if size <= 3 * _SAMPLE:
            for block in iter(lambda: fh.read(_SAMPLE), b""):
                digest.update(block)
        else:
            for offset in (0, (size - _SAMPLE) // 2, size - _SAMPLE):
                fh.seek(offset)
                digest.update(fh.read(_SAMPLE))
    return digest.hexdigest()


def _fourcc_text(value: float) -> str | None:
    code = int(value or 0)
    if code <= 0:
        return None
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")
    return text if text and text.isprintable() else None


def _diagnose(path: Path, size: int) -> str:
    """A best guess at why FFmpeg refused the file, from its first bytes (cheap: no full read)."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if len(head) >= 8 and head[4:8] == b"ftyp":
        if not _mp4_has_moov(path, size):
            return "MP4/MOV container without its 'moov' index; the file looks truncated (interrupted copy or download)"
        return "MP4/MOV container that FFmpeg could not parse (damaged file or unsupported codec)"
    if head and _looks_like_text(head):
        return "the file is text, not video data"
    return "unknown or damaged format"


def _mp4_has_moov(path: Path, size: int) -> bool:
    """Walk the top-level ISO-BMFF boxes (headers only) looking for 'moov'."""
    offset = 0
    with path.open("rb") as fh:
        while offset + 8 <= size:
            fh.seek(offset)
            header = fh.read(16)
            if len(header) < 8:
                return False
            box_size, box_type = struct.unpack(">I4s", header[:8])
            if box_type == b"moov":
                return True
            if box_size == 1 and len(header) == 16:
                box_size = struct.unpack(">Q", header[8:16])[0]
            elif box_size == 0:  # box runs to the end of the file
                return False
            if box_size < 8:
                return False
            offset += box_size
    return False


def _looks_like_text(data: bytes) -> bool:
    try:
        # incremental: a multi-byte character cut at the end of the sample is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)
