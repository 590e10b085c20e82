"""The demo library: what `make demo` runs on when no fixture data sits beside the checkout.

Built once into $FACE_ASSETS_HOME/demo/ from material installed packages ship (InsightFace's sample photos,
scikit-image's astronaut when installed):

    legacy/video_library.db   a legacy SQLite database (the real schema, synthetic rows with the real quirks)
    library/videos/           slideshow videos of those faces (OpenCV), one new file the legacy database does not
                              know, one video without people, one empty file
    library/profile-pictures/ the creators' profile pictures (faces from the same photos)
    truth.json                who is in which video, in the fixture truth's format (the summary compares with it)

Legacy paths start with /srv/media (FACE_ASSETS_PATH_MAP=/srv/media=<demo>/library), as in the fixture library.

May import face_assets.migration (the legacy schema), face_assets.db and face_assets.settings.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2

from face_assets import settings
from face_assets.demo import images
from face_assets.demo.legacy_db import LEGACY_ROOT, DemoCreator, DemoVideo, write_legacy_db

# Bump when what the builder makes changes: an older demo folder is then rebuilt.
BUILDER_VERSION = 2
STAMP = "demo.json"

# Four of the six people of InsightFace's group photo are creators; the other two are strangers who recur.
GROUP_CREATORS = ("Avery Stone", "Blake Rivers", "Casey Moreau", "Dana O'Brien")
STRANGERS = ("stranger_5", "stranger_6")


@dataclass(frozen=True)
class DemoLibrary:
    root: Path

    @property
    def legacy_db(self) -> Path:
        return self.root / "legacy" / "video_library.db"

    @property
    def library(self) -> Path:
        return self.root / "library"

    @property
    def truth(self) -> Path:
        return self.root / "truth.json"

    @property
    def path_map(self) -> str:
        return f"{LEGACY_ROOT}={self.library}"

    def facts(self) -> dict:
        return json.loads((self.root / STAMP).read_text())

    def description(self) -> str:
        """One line for the summary: which demo data this is and where it came from."""
        facts = self.facts()
        return (
            f"the demo library built in {self.root} from {', '.join(facts['sources'])}: "
            f"{facts['videos']} videos, {facts['creators']} creators ({facts['creators_with_pictures']} with a "
            f"profile picture), legacy database {self.legacy_db}"
        )

    def environment(self) -> dict[str, str]:
        """The variables that point the pipeline at this library."""
        return {"FACE_ASSETS_LEGACY_DB": str(self.legacy_db), "FACE_ASSETS_PATH_MAP": self.path_map}


def demo_root() -> Path:
    return settings.home() / "demo"


def _plan() -> tuple[list[DemoCreator], dict[str, object], list[images.Slideshow], list[str]]:
    """Creators, their pictures (name -> image), the slideshows and the image sources used."""
    creators: list[DemoCreator] = []
    pictures: dict[str, object] = {}
    sources = ["InsightFace's sample photos t1.jpg and Tom_Hanks_54745.png"]
    for i, name in enumerate(GROUP_CREATORS):
        creators.append(DemoCreator(name, f"profile-pictures/{_slug(name)}.jpg", "from InsightFace's t1.jpg"))
        pictures[name] = images.face_from_group(i)
    creators.append(DemoCreator("Tom Hanks", "profile-pictures/tom_hanks.jpg", "InsightFace's sample face"))
    pictures["Tom Hanks"] = images.tom_hanks()
    astronaut = images.astronaut()
    if astronaut is not None:
        sources.append("scikit-image's astronaut")
        creators.append(
            DemoCreator("Eileen Collins", "profile-pictures/eileen_collins.jpg", "scikit-image's astronaut")
        )
        pictures["Eileen Collins"] = astronaut
    # As in real libraries: a creator without a picture, and one whose picture file is gone (names differ by case).
    creators.append(DemoCreator("Morgan Lee", None))
    creators.append(DemoCreator("morgan lee", "profile-pictures/morgan_lee_old.jpg"))

    group = lambda i: lambda: images.portrait_slides(images.face_from_group(i))  # noqa: E731
    shows = [
        images.Slideshow(
            "videos/group_photo.mp4",
            images.group_slides,
            GROUP_CREATORS,
            STRANGERS,
            "the whole group photo: four creators and two strangers",
        ),
        images.Slideshow("videos/avery_interview.mp4", group(0), (GROUP_CREATORS[0],)),
        images.Slideshow(
            "videos/blake_and_casey.mp4",
            lambda: images.alternating_slides([images.face_from_group(1), images.face_from_group(2)]),
            (GROUP_CREATORS[1], GROUP_CREATORS[2]),
        ),
        images.Slideshow("videos/tom_hanks.mp4", lambda: images.portrait_slides(images.tom_hanks()), ("Tom Hanks",)),
        images.Slideshow("videos/stranger_5_a.mp4", group(4), (), (STRANGERS[0],), "someone who is not a creator"),
        images.Slideshow(
            "videos/stranger_5_b.mp4",
            lambda: images.portrait_slides(images.face_from_group(4, 0.9)),
            (),
            (STRANGERS[0],),
            "the same stranger again",
        ),
        images.Slideshow("videos/stranger_6.mp4", group(5), (), (STRANGERS[1],), "another stranger"),
        images.Slideshow(
            "videos/no_people.mp4",
            lambda: images.alternating_slides(images.no_face_pictures()),
            (),
            (),
            "face-mask product photos: nobody in it",
        ),
        # Not in the legacy database: the library scan registers it.
        images.Slideshow(
            "videos/new/dana_on_holiday.mp4",
            group(3),
            (GROUP_CREATORS[3],),
            (),
            "a new file the legacy database does not know",
        ),
    ]
    if astronaut is not None:
        shows.insert(
            4, images.Slideshow("videos/astronaut.mp4", lambda: images.portrait_slides(astronaut), ("Eileen Collins",))
        )
    return creators, pictures, shows, sources


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def build(root: Path | None = None, force: bool = False) -> DemoLibrary:
    """The demo library at `root` (default $FACE_ASSETS_HOME/demo), built on first use and reused afterwards."""
    demo = DemoLibrary(Path(root) if root is not None else demo_root())
    stamp = demo.root / STAMP
    if not force and stamp.exists():
        try:
            if json.loads(stamp.read_text()).get("builder_version") == BUILDER_VERSION:
                return demo
        except ValueError:
            pass  # a damaged stamp: rebuild
    # Built beside the final folder, then renamed into place: an interrupted build leaves no half library.
    work = demo.root.with_name(f"{demo.root.name}.building-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    _build_into(DemoLibrary(work))
    shutil.rmtree(demo.root, ignore_errors=True)
    work.rename(demo.root)
    return demo


def _build_into(demo: DemoLibrary) -> None:
    creators, pictures, shows, sources = _plan()
    for creator in creators:
        if creator.name in pictures:
            target = demo.library / creator.picture
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), pictures[creator.name])
    videos = []
    new_files = []
    durations = {}
    sizes = {}
    for show in shows:
        path = demo.library / show.name
        slides = show.slides()
        sizes[show.name] = (slides[0].shape[1], slides[0].shape[0])
        duration = durations[show.name] = images.write_slideshow(path, slides)
        if "/new/" in show.name:
            new_files.append(show.name)
            continue
        videos.append(DemoVideo(show.name, path.stat().st_size, duration, *sizes[show.name], 5.0))
    broken = "videos/broken/empty.mp4"
    (demo.library / broken).parent.mkdir(parents=True, exist_ok=True)
    (demo.library / broken).write_bytes(b"")

    legacy_tags = [("videos/avery_interview.mp4", GROUP_CREATORS[0])]
    video_ids, creator_ids = write_legacy_db(demo.legacy_db, videos, creators, legacy_tags)
    with_pictures = {c.name: c.picture for c in creators if c.name in pictures}
    truth = {
        "legacy_root": LEGACY_ROOT,
        "creators_with_pictures": with_pictures,
        "legacy_creator_ids": creator_ids,
        "legacy_video_ids": video_ids,
        "legacy_true_tags": [list(t) for t in legacy_tags],
        "new_files_not_in_legacy_db": new_files,
        "broken_files": [broken],
        "unknown_people": dict.fromkeys(STRANGERS, "a person of InsightFace's t1.jpg who is not a creator"),
        "videos": {
            s.name: {
                "creators": list(s.creators),
                "unknown_people": list(s.unknown_people),
                "note": s.note,
                "duration": durations[s.name],
                "width": sizes[s.name][0],
                "height": sizes[s.name][1],
            }
            for s in shows
        },
    }
    demo.truth.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n")
    (demo.root / STAMP).write_text(
        json.dumps(
            {
                "builder_version": BUILDER_VERSION,
                "sources": sources,
                "videos": len(shows),
                "creators": len(creators),
                "creators_with_pictures": len(with_pictures),
            },
            indent=2,
        )
        + "\n"
    )
