"""Videos with KNOWN appearance intervals, cut together from fixture photos at recorded times (OpenCV, mp4v).

Each segment shows one person's photo run (their LFW photos one after the other, a few seconds each) centred on a
grey background, or nothing (an empty stretch); the cut points are exact frame times, so the true interval of each
person is known to one frame. Used by the bisection test (face_assets_tests/video/test_timeline.py) and the
`timeline` benchmark stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

BACKGROUND = 96  # grey level of an empty stretch
SIZE = (320, 240)  # width, height: an LFW photo scaled to 200 px shows a ~80 px face (min_face_size is 64)
PHOTO = 200


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    person: str | None  # None: nobody on screen
    photos: tuple[Path, ...] = ()  # shown one after the other, `photo_seconds` each


@dataclass
class TimelineVideo:
    path: Path
    duration: float
    fps: float
    segments: list[Segment] = field(default_factory=list)

    def truth(self) -> dict[str, list[tuple[float, float]]]:
        """{person: [(start, end), ...]}: the recorded intervals."""
        out: dict[str, list[tuple[float, float]]] = {}
        for seg in self.segments:
            if seg.person is not None:
                out.setdefault(seg.person, []).append((seg.start, seg.end))
        return out


def lfw_people(lfw_images: Path, photos: int, limit: int, skip: int = 0) -> list[tuple[str, list[Path]]]:
    """People of lfw_dev with at least `photos` photos (sorted by name), `limit` of them after `skip`."""
    found = []
    for folder in sorted(p for p in lfw_images.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        if len(files) >= photos:
            found.append((folder.name, files[:photos]))
    return found[skip : skip + limit]


def _canvas() -> np.ndarray:
    return np.full((SIZE[1], SIZE[0], 3), BACKGROUND, dtype=np.uint8)


def _framed(photo: Path) -> np.ndarray:
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(photo)
    image = cv2.resize(image, (PHOTO, PHOTO), interpolation=cv2.INTER_AREA)
    frame = _canvas()
    x0, y0 = (SIZE[0] - PHOTO) // 2, (SIZE[1] - PHOTO) // 2
    frame[y0 : y0 + PHOTO, x0 : x0 + PHOTO] = image
    return frame


def write_video(
    path: Path, duration: float, segments: Sequence[Segment], fps: float = 4.0, photo_seconds: float = 4.0
) -> TimelineVideo:
    """Write the video: frame k (time k / fps) shows the segment containing that time. Segments must not overlap."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, SIZE)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    ordered = sorted(segments, key=lambda s: s.start)
    cache: dict[Path, np.ndarray] = {}
    empty = _canvas()
    try:
        for k in range(int(round(duration * fps))):
            t = k / fps
            frame = empty
            for seg in ordered:
                if seg.start <= t < seg.end and seg.person is not None and seg.photos:
                    photo = seg.photos[int((t - seg.start) // photo_seconds) % len(seg.photos)]
                    if photo not in cache:
                        cache[photo] = _framed(photo)
                    frame = cache[photo]
                    break
            writer.write(frame)
    finally:
        writer.release()
    return TimelineVideo(path, duration, fps, list(ordered))


def identity_of(embedding: np.ndarray, references: dict[str, np.ndarray], threshold: float = 0.3) -> str | None:
    """The person whose reference embedding (unit, e.g. the mean of their photos' faces) is most like `embedding`."""
    best, name = threshold, None
    for person, ref in references.items():
        s = float(np.dot(embedding, ref))
        if s >= best:
            best, name = s, person
    return name
