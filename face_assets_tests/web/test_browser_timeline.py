"""The timeline in a real browser (Playwright driving Debian's Chromium): a video cut together at test time from LFW
photos of two fixture creators at known times goes through the pipeline's video assets (first pass, adaptive frames,
matches, appearances); its page shows one row per person with segments to scale, a click on a segment shows that
moment's frame, and the creator's page lists when they appear. The screenshot goes to docs/screenshot-timeline.png
when it is missing or FACE_ASSETS_UPDATE_SCREENSHOTS=1 (always to .test_output/web/)."""

from __future__ import annotations

import os
import shutil

import psycopg
import pytest
from dagster import materialize

from benchmarks.timeline_videos import Segment, write_video
from face_assets_tests.conftest import FIXTURES, REPO, browser_or_skip, require_fixtures
from face_assets_tests.defs.faces.test_detections import make_resources
from face_assets_tests.defs.library.test_frames import run_partitions
from face_assets_tests.web.test_browser import OUTPUT, Tab, chromium, web_app  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
LFW = FIXTURES / "lfw_dev" / "images"
DURATION = 60.0


@pytest.fixture(scope="module")
def timeline_scene(module_migrated_db, module_dagster_instance, tmp_path_factory):
    """The migrated fixture database with one more video: Colin Powell 4-22 s and 47-56 s, George W Bush 27-41 s."""
    require_fixtures()
    browser_or_skip()
    home = tmp_path_factory.mktemp("timeline_home")
    powell = tuple(LFW / "Colin_Powell" / f"Colin_Powell_000{i}.jpg" for i in (2, 3, 4))
    bush = tuple(LFW / "George_W_Bush" / f"George_W_Bush_000{i}.jpg" for i in (2, 3, 4))
    segments = [
        Segment(4.0, 22.0, "Colin Powell", powell),
        Segment(27.0, 41.0, "George W Bush", bush),
        Segment(47.0, 56.0, "Colin Powell", powell),
    ]
    video = write_video(home / "timeline.mp4", DURATION, segments, fps=4)
    url = module_migrated_db
    with psycopg.connect(url) as conn:
        video_id = conn.execute("SELECT id FROM videos ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute(
            "UPDATE videos SET file_path = %s, duration_seconds = %s, is_available = true, title = 'Two people'"
            " WHERE id = %s",
            (str(video.path), DURATION, video_id),
        )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACE_ASSETS_HOME", str(home))
        from face_assets.defs.faces.assets import creator_embeddings, face_detections, face_matches
        from face_assets.defs.faces.timeline import face_appearances, timeline_frames
        from face_assets.defs.library.assets import sampled_frames

        instance = module_dagster_instance
        instance.add_dynamic_partitions("videos", [str(video_id)])
        resources = make_resources(url)
        assert materialize([creator_embeddings], instance=instance, resources=resources).success
        steps = [sampled_frames, face_detections, timeline_frames, face_matches, face_appearances]
        assert run_partitions(steps, [str(video_id)], instance, resources).success
        yield url, video_id, video


@pytest.fixture(scope="module")
def web_library(timeline_scene):
    """The database the app serves (test_browser's web_app fixture reads it)."""
    return timeline_scene[0]


def test_the_timeline_shows_who_is_on_screen_and_when(chromium, web_app, timeline_scene):  # noqa: F811
    url, video_id, _video = timeline_scene
    with psycopg.connect(url) as conn:
        names = dict(conn.execute("SELECT name, id FROM creators WHERE name IN ('Colin Powell', 'George W Bush')"))
    tab = Tab(chromium, web_app, "timeline")
    try:
        page = tab.goto(f"/videos/{video_id}")
        rows = page.locator("#timeline .tl-row:not(.tl-axis)")
        assert rows.count() == 2
        assert page.locator("#timeline .tl-name").all_inner_texts()[1:] == ["Colin Powell", "George W Bush"]
        powell = rows.nth(0).locator(".tl-seg")
        assert powell.count() == 2
        # Segments to scale: Powell's first appearance (4-22 s of 60) starts near 7% and spans about 30%.
        track_box = rows.nth(0).locator(".tl-track").bounding_box()
        seg_box = powell.nth(0).bounding_box()
        left = (seg_box["x"] - track_box["x"]) / track_box["width"] * DURATION
        width = seg_box["width"] / track_box["width"] * DURATION
        assert abs(left - 4.0) <= 2.0 and abs(width - 18.0) <= 4.0, (left, width)
        # A click shows that moment's frame.
        assert page.locator(".tl-moment:visible").count() == 0
        rows.nth(1).locator(".tl-seg").first.click()
        moment = page.locator(".tl-moment:visible")
        assert moment.count() == 1 and "George W Bush" in moment.inner_text()
        moment.locator("img").evaluate("i => i.decode()")
        assert moment.locator("img").evaluate("i => i.naturalWidth") > 0
        path = tab.shot("timeline")
        target = REPO / "docs" / "screenshot-timeline.png"
        if os.environ.get("FACE_ASSETS_UPDATE_SCREENSHOTS") == "1" or not target.exists():
            shutil.copyfile(path, target)

        page = tab.goto(f"/creators/{names['Colin Powell']}")
        item = page.locator("#creator-appearances li")
        assert item.count() == 1
        text = item.inner_text()
        assert "Two people: appears at 0:0" in text and text.count("-") == 2, text
        item.locator("a").nth(1).click()
        page.wait_for_url(f"**/videos/{video_id}#timeline")
        assert not tab.errors
    finally:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        tab.close()
