"""Forgetting a person in a real browser (Playwright driving Debian's Chromium against the app served over HTTP): on a
creator's page and on a cluster's page the button only opens a confirmation that says what goes and that it cannot be
undone; Cancel deletes nothing; "Yes" forgets them (DELETE on the API) and the page says so. The database is the
migrated fixture database with the faces of seed.py."""

from __future__ import annotations

import psycopg
import pytest

from face_assets_tests.conftest import browser_or_skip, require_fixtures
from face_assets_tests.web.seed import seed
from face_assets_tests.web.test_browser import TIMEOUT_MS, Tab, chromium, tab, web_app  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def seeded(module_migrated_db, tmp_path_factory):
    require_fixtures()
    browser_or_skip()
    home = tmp_path_factory.mktemp("forget_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACE_ASSETS_HOME", str(home))  # the app runs in this process: its files are here
        yield module_migrated_db, seed(module_migrated_db, crops_dir=home / "crops" / "seed")


@pytest.fixture(scope="module")
def web_library(seeded):
    """The database the app serves (test_browser's web_app fixture reads it)."""
    return seeded[0]


def count(url: str, query: str, *params) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


def test_forget_a_creator_after_confirming(tab, seeded):  # noqa: F811
    from playwright.sync_api import expect

    url, data = seeded
    alpha = data.creators["Api Alpha"]
    faces = count(url, "SELECT count(*) FROM video_face_detections WHERE matched_creator_id = %s", alpha)
    assert faces > 0
    t = tab("creator")
    page = t.goto(f"/creators/{alpha}")
    panel = page.locator("#forget-panel")
    expect(panel).to_be_hidden()

    # The button only asks; Cancel deletes nothing.
    page.get_by_role("button", name="Forget Api Alpha…").click()
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("This cannot be undone")
    expect(panel).to_contain_text("legacy tags")
    expect(page.get_by_role("button", name="Cancel")).to_be_focused()
    page.get_by_role("button", name="Cancel").click()
    expect(panel).to_be_hidden()
    assert not [call for call in t.api if call[0] == "DELETE"]
    assert count(url, "SELECT count(*) FROM video_face_detections WHERE matched_creator_id = %s", alpha) == faces

    # Confirmed: forgotten, and the page says so once it reloads.
    page.get_by_role("button", name="Forget Api Alpha…").click()
    t.shot("confirmation")  # .test_output/web/
    page.get_by_role("button", name="Yes, forget Api Alpha").click()
    expect(page.locator("#outcome")).to_contain_text("forgot creator 'Api Alpha'", timeout=TIMEOUT_MS)
    assert ("DELETE", f"/api/face-recognition/creator/{alpha}/faces", 200) in t.api
    expect(page.locator("#forgotten")).to_contain_text("Forgotten on", timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Forget Api Alpha…")).to_have_count(0)
    assert count(url, "SELECT count(*) FROM video_face_detections WHERE matched_creator_id = %s", alpha) == 0
    assert count(url, "SELECT count(*) FROM creator_face_embeddings WHERE creator_id = %s", alpha) == 0


def test_forget_a_cluster_after_confirming(tab, seeded):  # noqa: F811
    from playwright.sync_api import expect

    url, data = seeded
    cluster = data.clusters[-1]
    t = tab("cluster")
    page = t.goto(f"/people/{cluster}")
    page.get_by_role("button", name=f"Forget person {cluster}…").click()
    panel = page.locator("#forget-panel")
    expect(panel).to_contain_text("This cannot be undone")
    page.keyboard.press("Escape")  # closes it too
    expect(panel).to_be_hidden()
    assert count(url, "SELECT count(*) FROM face_clusters WHERE id = %s", cluster) == 1

    page.get_by_role("button", name=f"Forget person {cluster}…").click()
    page.get_by_role("button", name=f"Yes, forget person {cluster}").click()
    expect(page.locator("#outcome")).to_contain_text(f"forgot cluster {cluster}", timeout=TIMEOUT_MS)
    page.wait_for_url("**/people", timeout=TIMEOUT_MS)  # the person is gone: back to the list
    assert count(url, "SELECT count(*) FROM face_clusters WHERE id = %s", cluster) == 0
    assert count(url, "SELECT count(*) FROM video_face_detections WHERE id = ANY(%s)", data.cluster_faces[cluster]) == 0
