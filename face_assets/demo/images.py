"""Face pictures from installed packages, and the slides the demo videos are made of.

Sources: InsightFace's sample photos (insightface/data/images: `t1.jpg`, a group of six people, and
`Tom_Hanks_54745.png`, an aligned 112x112 face) and, when scikit-image is installed, its `astronaut` image.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SLIDE_SIZE = (640, 480)  # width, height of the portrait videos' frames

# The six faces of t1.jpg, left to right, as InsightFace's SCRFD detector boxes them (x1, y1, x2, y2 in pixels of
# the 1280x886 photo shipped with insightface 0.7.3, the pinned version). Kept here rather than detected at build
# time so that building the demo library needs no model.
T1_SIZE = (1280, 886)
T1_FACES = (
    (55, 260, 168, 397),
    (270, 144, 371, 270),
    (463, 266, 572, 415),
    (745, 342, 847, 480),
    (906, 59, 1011, 206),
    (1130, 272, 1227, 400),
)


class DemoSourceError(RuntimeError):
    """An image the demo is built from is not where the installed package should have it."""


def insightface_images() -> Path:
    # find_spec, not import: importing insightface loads its whole app (seconds) for nothing here.
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        raise DemoSourceError("the insightface package is not installed (run `make install`)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "images"


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DemoSourceError(f"cannot read {path} (the demo is built from it)")
    return image


def group_photo() -> np.ndarray:
    image = _read(insightface_images() / "t1.jpg")
    if (image.shape[1], image.shape[0]) != T1_SIZE:
        raise DemoSourceError(
            f"{insightface_images() / 't1.jpg'} is not the photo the demo's face boxes were "
            f"measured on ({image.shape[1]}x{image.shape[0]}, expected {T1_SIZE[0]}x{T1_SIZE[1]})"
        )
    return image


def face_from_group(index: int, margin: float = 0.6) -> np.ndarray:
    """Face `index` of t1.jpg with `margin` times its size around it (a detector needs some context)."""
    image = group_photo()
    x1, y1, x2, y2 = T1_FACES[index]
    mx, my = int((x2 - x1) * margin), int((y2 - y1) * margin)
    h, w = image.shape[:2]
    return image[max(0, y1 - my) : min(h, y2 + my), max(0, x1 - mx) : min(w, x2 + mx)].copy()


def tom_hanks() -> np.ndarray:
    # The sample is an aligned 112x112 crop with no background; a detector finds no face in it as it is, so it is
    # enlarged and framed by its own blurred copy, which reads as a head with some surroundings.
    face = cv2.resize(_read(insightface_images() / "Tom_Hanks_54745.png"), (224, 224), interpolation=cv2.INTER_CUBIC)
    frame = cv2.GaussianBlur(cv2.resize(face, (448, 448)), (0, 0), 25)
    frame[112:336, 112:336] = face
    return frame


def astronaut() -> np.ndarray | None:
    """scikit-image's astronaut (Eileen Collins), face and shoulders; None when scikit-image is not installed."""
    try:
        from skimage import data
    except ImportError:
        return None
    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return image[0:320, 90:370].copy()


def no_face_pictures() -> list[np.ndarray]:
    """InsightFace's face-mask product photos: pictures without a face (a video with nobody in it)."""
    return [_read(p) for p in sorted(insightface_images().glob("mask_*.jpg"))]


# --- slides ---------------------------------------------------------------------------------------


def _place(
    picture: np.ndarray,
    height: int,
    center: tuple[float, float],
    background: tuple[int, int, int],
    size: tuple[int, int] = SLIDE_SIZE,
) -> np.ndarray:
    w, h = size
    scale = min(height / picture.shape[0], (w - 20) / picture.shape[1])
    resized = cv2.resize(
        picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    )
    slide = np.full((h, w, 3), background, np.uint8)
    ph, pw = resized.shape[:2]
    x = int(min(max(0, center[0] * w - pw / 2), w - pw))
    y = int(min(max(0, center[1] * h - ph / 2), h - ph))
    slide[y : y + ph, x : x + pw] = resized
    return slide


def _adjust(picture: np.ndarray, step: int) -> np.ndarray:
    """A different look per slide (mirrored, lighter, darker, slightly turned) so the frames are not one image."""
    if step % 5 == 1:
        return cv2.flip(picture, 1)
    if step % 5 == 2:
        return cv2.convertScaleAbs(picture, alpha=1.1, beta=25)
    if step % 5 == 3:
        h, w = picture.shape[:2]
        turn = cv2.getRotationMatrix2D((w / 2, h / 2), 8, 1.0)
        return cv2.warpAffine(picture, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    if step % 5 == 4:
        return cv2.convertScaleAbs(picture, alpha=0.85, beta=-10)
    return picture


_BACKGROUNDS = ((40, 40, 40), (90, 60, 30), (30, 70, 90), (70, 70, 110), (20, 90, 50))
_POSITIONS = ((0.5, 0.5), (0.35, 0.45), (0.65, 0.55), (0.45, 0.5), (0.55, 0.45))


def portrait_slides(picture: np.ndarray, count: int = 5) -> list[np.ndarray]:
    return [
        _place(_adjust(picture, i), 260 + 40 * (i % 3), _POSITIONS[i % 5], _BACKGROUNDS[i % 5]) for i in range(count)
    ]


def alternating_slides(pictures: list[np.ndarray], count: int = 5) -> list[np.ndarray]:
    return [
        _place(_adjust(pictures[i % len(pictures)], i), 300, _POSITIONS[i % 5], _BACKGROUNDS[i % 5])
        for i in range(count)
    ]


GROUP_SLIDE_SIZE = (1280, 720)


def group_slides(count: int = 5) -> list[np.ndarray]:
    """The whole group photo, mirrored, lighter, and two closer views (left and right half).

    In 1280x720: at 640 pixels wide its faces would be smaller than the pipeline's min_face_size (64 px)."""
    image = group_photo()
    w = image.shape[1]
    views = [
        image,
        cv2.flip(image, 1),
        cv2.convertScaleAbs(image, alpha=1.1, beta=20),
        image[:, : w // 2 + 60],
        image[:, w // 2 - 60 :],
    ]
    return [
        _place(views[i % len(views)], GROUP_SLIDE_SIZE[1], (0.5, 0.5), (0, 0, 0), GROUP_SLIDE_SIZE)
        for i in range(count)
    ]


@dataclass(frozen=True)
class Slideshow:
    """One demo video: `slides` shown `seconds_per_slide` each."""

    name: str  # path under the library, e.g. videos/group_photo.mp4
    slides: Callable[[], list[np.ndarray]]
    creators: tuple[str, ...] = ()
    unknown_people: tuple[str, ...] = ()
    note: str = ""


def write_slideshow(path: Path, slides: list[np.ndarray], seconds_per_slide: float = 2.0, fps: int = 5) -> float:
    """Write an MPEG-4 video (OpenCV's FFmpeg writer); returns its duration in seconds.

    The pipeline samples 5 frames at i/6 of a video's duration, so with 5 equal slides every sampled frame falls on
    a different slide."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = (slides[0].shape[1], slides[0].shape[0])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise DemoSourceError(f"OpenCV cannot write MPEG-4 video to {path}")
    frames = 0
    try:
        for slide in slides:
            for _ in range(int(round(seconds_per_slide * fps))):
                writer.write(slide)
                frames += 1
    finally:
        writer.release()
    return frames / fps
