"""The review app in a real browser: Playwright driving Debian's Chromium against the app served over HTTP.

The database is the fixture library after the whole pipeline (`face-assets run`'s path: migration, frames, faces,
matches, clusters), and the app is the real one (face_assets.web.app.create_app under uvicorn on 127.0.0.1, a free
port). The tests run in file order on that one database, as a person would work through it: the screenshots of
every page first, then two people deciding the same face (409), undoing a confirmation, clearing the review queue by
keyboard, naming a cluster as a new creator (its videos get tagged), merging two clusters, an escaped `<script>`
name, a refused cross-origin write, and finding a creator's videos from a photo dropped on /search.

Without Chromium or Playwright the tests skip saying why; FACE_ASSETS_E2E_REQUIRE_BROWSER=1 makes that a failure.
Screenshots go to docs/screenshot-<page>.png when they are missing or FACE_ASSETS_UPDATE_SCREENSHOTS=1 (a test run
does not change tracked files otherwise); every run also keeps them in .test_output/web/.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import psycopg
import pytest

from face_assets_tests.conftest import (
    BROWSER_ARGS,
    CHROMIUM,
    FIXTURES,
    REPO,
    _create_database,
    browser_or_skip,
    fixture_library_env,
    require_fixtures,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DOCS = REPO / "docs"
OUTPUT = REPO / ".test_output" / "web"
PHOTO = FIXTURES / "lfw_dev" / "images" / "George_W_Bush" / "George_W_Bush_0006.jpg"  # not the profile picture
TIMEOUT_MS = 60_000  # a decision re-matches around it; the shared CI machine can be slow


# --- the library, the app, the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def web_library(pg_server, module_dagster_instance, tmp_path_factory) -> str:
    """A database holding the fixture library after the whole pipeline; FACE_ASSETS_HOME (frames, crops) with it."""
    require_fixtures()
    browser_or_skip()  # before the pipeline's minute: nothing to do here without a browser
    url = _create_database(pg_server, "web")
    home = tmp_path_factory.mktemp("web_home")
    with fixture_library_env(url, home):
        from face_assets.cli.runner import run_pipeline

        assert run_pipeline(module_dagster_instance), "the pipeline failed on the fixture library"
        _queue_for_review(url)
    return url


def _queue_for_review(url: str) -> None:
    """A stricter false-tag target (auto_tag_max_false_rate), as a cautious library owner sets it: on the small
    fixture library most matches then wait for a person instead of tagging at once, so there is a queue to clear."""
    from pgvector.psycopg import register_vector

    from face_assets.recognition.config import RecognitionConfig
    from face_assets.recognition.matching import match_detections

    with psycopg.connect(url) as conn:
        register_vector(conn)
        for rate in ("1e-5", "1e-6", "1e-8"):
            conn.execute(
                "INSERT INTO face_recognition_config (key, value) VALUES ('auto_tag_max_false_rate', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (rate,),
            )
            match_detections(conn, RecognitionConfig.load(conn))
            conn.commit()
            groups = conn.execute(
                "SELECT count(DISTINCT (video_id, matched_creator_id)) FROM video_face_detections"
                " WHERE match_status = 'pending' AND matched_creator_id IS NOT NULL"
            ).fetchone()[0]
            if groups >= 3:
                return
    raise AssertionError(f"only {groups} proposal group(s) wait for review even at auto_tag_max_false_rate {rate}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def web_app(web_library):
    """The real app served by uvicorn on 127.0.0.1 over HTTP (in a thread of this process); its base URL."""
    import uvicorn

    from face_assets.web.app import create_app

    app = create_app(database_url=web_library, host="127.0.0.1", dagster_ui="http://127.0.0.1:3000")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="review-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the review app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def chromium():
    browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS)
        yield browser
        browser.close()


class Tab:
    """A browser tab on the app that records page errors and API answers, and screenshots itself on failure."""

    def __init__(self, browser, base: str, name: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.base, self.name = base, name
        self.errors: list[str] = []
        self.api: list[tuple[str, str, int]] = []  # (method, path, status) of every API call the page made
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("response", self._record)

    def _record(self, response) -> None:
        path = response.url[len(self.base) :] if response.url.startswith(self.base) else response.url
        if path.startswith("/api/"):
            self.api.append((response.request.method, path, response.status))

    def goto(self, path: str):
        response = self.page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        return self.page

    def shot(self, name: str) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{self.name}-{name}.png"
        # Thumbnails load lazily (only near the viewport); a full-page picture needs them all.
        self.page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
        self.page.wait_for_function("[...document.images].every(i => i.complete)")
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(chromium, web_app, request):
    """Opens tabs (each its own browser context: a separate person); at the end each is photographed into
    .test_output/web/ (what it showed when a test failed) and must have had no JavaScript error."""
    opened: list[Tab] = []

    def open_tab(name: str = "tab") -> Tab:
        t = Tab(chromium, web_app, f"{request.node.name}-{name}")
        opened.append(t)
        return t

    yield open_tab
    for t in opened:
        try:
            t.shot("last")
            assert not t.errors, f"JavaScript errors on the page: {t.errors}"
        finally:
            t.close()


def db(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def pending_faces(url: str) -> list[tuple[int, int, int]]:
    """(face, proposed creator, video) of the proposals waiting for review."""
    with db(url) as conn:
        return conn.execute(
            "SELECT id, matched_creator_id, video_id FROM video_face_detections"
            " WHERE match_status = 'pending' AND matched_creator_id IS NOT NULL ORDER BY id"
        ).fetchall()


def face_state(url: str, detection_id: int) -> tuple:
    with db(url) as conn:
        return conn.execute(
            "SELECT match_status, matched_creator_id, decided_at IS NOT NULL FROM video_face_detections WHERE id = %s",
            (detection_id,),
        ).fetchone()


def open_clusters(url: str) -> list[tuple[int, int, int]]:
    """(id, size, n_videos) of the open clusters, largest first (as /people lists them)."""
    with db(url) as conn:
        return conn.execute(
            "SELECT id, size, n_videos FROM face_clusters WHERE status = 'open' ORDER BY size DESC, id DESC"
        ).fetchall()


def wait_outcome(page, text: str):
    from playwright.sync_api import expect

    expect(page.locator("#outcome")).to_contain_text(text, timeout=TIMEOUT_MS)


# --- the tests, in the order a person works --------------------------------------------------------------------------


SCREENSHOT_PAGES = ("home", "review", "people", "cluster", "creator", "video", "search")
SHOTS: dict[str, Path] = {}  # page -> this run's screenshot, copied to docs/ by the last test


def test_the_pages_before_any_decision(tab, web_library):
    """Home, the review queue, the people and a cluster answer 200 with no script error, showing what waits."""
    from playwright.sync_api import expect

    t = tab("pages")
    page = t.page
    waiting = pending_faces(web_library)
    clusters = open_clusters(web_library)
    assert len(clusters) >= 3, clusters

    t.goto("/")
    expect(page.get_by_role("heading", name="Face recognition")).to_be_visible()
    expect(page.get_by_role("link", name="Dagster UI").first).to_have_attribute("href", "http://127.0.0.1:3000")
    expect(page.locator("[data-stat=matches_awaiting_review]")).to_have_text(str(len(waiting)))
    expect(page.locator("#failed-h")).to_contain_text("Could not be processed")  # the fixture's broken files
    SHOTS["home"] = t.shot("home")

    t.goto("/review")
    expect(page.locator("[data-group]").first).to_be_visible()
    expect(page.locator("#shortcuts")).to_contain_text("confirm")
    expect(page.locator("[data-group] .explain").first).to_contain_text("similarity")
    groups = {(video, creator) for _, creator, video in waiting}
    expect(page.locator("[data-group]")).to_have_count(len(groups))  # one page holds a small library's queue
    SHOTS["review"] = t.shot("review")

    t.goto("/people")
    cards = page.locator("[data-cluster]")
    expect(cards).to_have_count(len(clusters))
    assert cards.first.get_attribute("data-cluster") == str(clusters[0][0])  # largest first
    SHOTS["people"] = t.shot("people")

    cards.first.get_by_role("link", name=f"Person {clusters[0][0]}").click()
    expect(page.locator("#cluster-faces [data-face]")).to_have_count(min(clusters[0][1], 48))
    expect(page.locator("[data-merge]").first).to_be_visible()
    SHOTS["cluster"] = t.shot("cluster")

    # Images are served by id, and a missing one is a placeholder image, not an error page.
    for path in (f"/images/detection/{waiting[0][0]}.jpg", "/images/detection/999999.jpg"):
        response = page.request.get(path)
        assert response.headers["content-type"].startswith("image/"), path
    assert page.request.get("/videos/999999").status == 404


def test_undo_a_confirmation(tab, web_library):
    """Confirm by a click, then Undo: the face is undecided again, its embedding and manual tag are gone."""

    face, creator, _ = pending_faces(web_library)[0]
    with db(web_library) as conn:
        video = conn.execute("SELECT video_id FROM video_face_detections WHERE id = %s", (face,)).fetchone()[0]
        tagged_before = conn.execute(
            "SELECT source FROM video_creators WHERE video_id = %s AND creator_id = %s", (video, creator)
        ).fetchone()
    t = tab()
    t.goto("/review")
    group = t.page.locator(f"[data-group]:has([data-face='{face}'])")
    group.get_by_role("button", name="Confirm").click()
    wait_outcome(t.page, "Confirmed")
    assert face_state(web_library, face) == ("manual", creator, True)
    with db(web_library) as conn:
        tag = conn.execute(
            "SELECT source FROM video_creators WHERE video_id = %s AND creator_id = %s", (video, creator)
        ).fetchone()
        assert tag is not None  # the video is tagged (manual, unless it was tagged before)
        assert (
            conn.execute(
                "SELECT count(*) FROM creator_face_embeddings WHERE source_path = %s", (f"detection:{face}",)
            ).fetchone()[0]
            == 1
        )
    t.page.locator("#outcome").get_by_role("button", name="Undo").click()
    wait_outcome(t.page, "Undone")
    status, _, decided = face_state(web_library, face)
    assert status != "manual" and not decided  # undecided again (re-matched: proposed again)
    with db(web_library) as conn:
        assert (
            conn.execute(
                "SELECT source FROM video_creators WHERE video_id = %s AND creator_id = %s", (video, creator)
            ).fetchone()
            == tagged_before
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM creator_face_embeddings WHERE source_path = %s", (f"detection:{face}",)
            ).fetchone()[0]
            == 0
        )


def test_clear_the_review_queue_by_keyboard_a_second_decision_gets_409(tab, web_library):
    """One person clears the queue with the keyboard (j / k move, x selects, y confirms the selection at once);
    another, on the page as it was, rejects one of the same faces: 409, told what happened, nothing changed."""
    from playwright.sync_api import expect

    waiting = pending_faces(web_library)
    assert waiting, "the undo above leaves the face proposed again"
    face, creator, _ = waiting[0]
    first, second = tab("first"), tab("second")
    second.goto("/review")
    page = first.page
    for _ in range(10):  # a decision re-matches nearby faces, which may propose new ones: go on until none is left
        if not pending_faces(web_library):
            break
        first.goto("/review")
        groups = page.locator("[data-group]")
        expect(groups.first).to_be_visible()
        n = groups.count()
        page.keyboard.press("j")
        page.keyboard.press("k")  # back on the first group
        for _ in range(n):
            page.keyboard.press("x")  # select the current group, then the next
            page.keyboard.press("j")
        expect(page.locator("#selected-count")).to_have_text(f"{n} selected")
        page.keyboard.press("y")  # acts on every selected group at once
        wait_outcome(page, "Confirmed")
        expect(page.locator("#queue-empty")).to_be_visible()
    assert not pending_faces(web_library)
    assert ("POST", "/api/face-recognition/confirm", 200) in first.api, first.api
    first.goto("/review")
    expect(page.locator("#queue-size")).to_have_text("Nothing waits for review.")
    assert face_state(web_library, face)[:2] == ("manual", creator)

    second.page.locator(f"[data-group]:has([data-face='{face}'])").get_by_role("button", name="Reject").click()
    expect(second.page.locator("#outcome")).to_contain_text("Someone else decided first", timeout=TIMEOUT_MS)
    expect(second.page.locator("#outcome")).to_contain_text(f"face {face} is now manual")
    assert ("POST", "/api/face-recognition/reject", 409) in second.api, second.api
    assert face_state(web_library, face)[:2] == ("manual", creator)  # the first decision stands


def test_name_a_cluster_as_a_new_creator_tags_its_videos(tab, web_library):
    from playwright.sync_api import expect

    cluster, _size, _n_videos = open_clusters(web_library)[0]
    with db(web_library) as conn:
        videos = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT video_id FROM video_face_detections WHERE cluster_id = %s", (cluster,)
            )
        }
    t = tab()
    page = t.page
    t.goto("/people")
    page.locator(f"[data-cluster='{cluster}']").get_by_role("link", name=f"Person {cluster}").click()
    page.get_by_label("Name", exact=True).fill("Vladimir Putin")
    page.get_by_role("button", name="Create").click()
    wait_outcome(page, "created creator")
    page.locator("[data-creator-link]").click()
    expect(page.locator("#creator-name")).to_have_text("Vladimir Putin")
    rows = page.locator("#tagged-videos [data-video]")
    expect(rows).to_have_count(len(videos))
    for video in videos:
        expect(page.locator(f"#tagged-videos [data-video='{video}'] [data-source]")).to_have_attribute(
            "data-source", "manual"
        )
    with db(web_library) as conn:
        creator = conn.execute("SELECT id FROM creators WHERE name = 'Vladimir Putin'").fetchone()[0]
        tagged = {
            r[0]
            for r in conn.execute(
                "SELECT video_id FROM video_creators WHERE creator_id = %s AND source = 'manual'", (creator,)
            )
        }
        assert tagged == videos
        status = conn.execute("SELECT status, creator_id FROM face_clusters WHERE id = %s", (cluster,)).fetchone()
        assert status == ("named", creator)


def test_merge_two_clusters_picked_visually(tab, web_library):
    from playwright.sync_api import expect

    clusters = open_clusters(web_library)
    assert len(clusters) >= 2, clusters
    into = clusters[0]
    t = tab()
    page = t.page
    t.goto(f"/people/{into[0]}")
    candidate = page.locator("[data-merge-candidate]").first
    other = int(candidate.get_attribute("data-merge-candidate"))
    other_size = next(c[1] for c in clusters if c[0] == other)
    expect(candidate.locator("img").first).to_be_visible()  # the person picks by the faces shown
    candidate.get_by_role("button", name=f"Merge into person {into[0]}").click()
    wait_outcome(page, f"merged cluster {other} into cluster {into[0]}")
    page.wait_for_load_state()
    expect(page.locator("#cluster-summary")).to_contain_text(f"{into[1] + other_size} face(s)", timeout=TIMEOUT_MS)
    with db(web_library) as conn:
        assert conn.execute("SELECT status, merged_into FROM face_clusters WHERE id = %s", (other,)).fetchone() == (
            "merged",
            into[0],
        )
        assert (
            conn.execute("SELECT size FROM face_clusters WHERE id = %s", (into[0],)).fetchone()[0]
            == into[1] + other_size
        )


def test_a_creator_called_script_shows_as_text(tab, web_library):
    from playwright.sync_api import expect

    cluster = open_clusters(web_library)[0][0]
    name = "<script>window.__pwned = 1</script><b>Bold</b>"
    t = tab()
    page = t.page
    t.goto(f"/people/{cluster}")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create").click()
    wait_outcome(page, "created creator")
    expect(page.locator("#outcome")).to_contain_text(name)  # the outcome shows it as text too
    page.locator("[data-creator-link]").click()
    expect(page.locator("#creator-name")).to_have_text(name)
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.locator("#creator-name b").count() == 0
    assert "&lt;script&gt;" in page.content()
    t.goto("/people?status=named")
    expect(page.locator(f"[data-cluster='{cluster}']")).to_contain_text(name)
    assert page.evaluate("() => window.__pwned === undefined")


def test_a_write_from_another_site_is_refused(tab, web_library, web_app):
    """A page on another origin posts a form to the app (the classic cross-site request): 403, nothing changes."""
    t = tab()
    page = t.page
    with db(web_library) as conn:
        face, status = conn.execute(
            "SELECT id, match_status FROM video_face_detections WHERE matched_creator_id"
            " IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()
    evil = "http://evil.example/"
    form = (
        f"<form method=post action='{web_app}/api/face-recognition/reject/{face}'><button>win a prize</button></form>"
    )
    page.route(evil, lambda route: route.fulfill(status=200, content_type="text/html", body=form))
    page.goto(evil)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="win a prize").click()
    assert navigation.value.status == 403
    assert "cross-origin" in page.content()
    assert face_state(web_library, face)[0] == status
    # The app's own pages still write (same origin).
    t.goto("/")
    answer = page.evaluate("""() => fetch('/api/face-recognition/cluster/999999/ignore', {method: 'POST'})
                               .then(r => r.status)""")
    assert answer in (400, 404)  # past the origin check: there is no such cluster


def test_find_a_creators_videos_from_a_dropped_photo(tab, truth):
    from playwright.sync_api import expect

    creator = truth["legacy_creator_ids"]["George W Bush"]
    video = truth["legacy_video_ids"]["videos/slideshow_03.mp4"]
    t = tab()
    page = t.page
    t.goto("/search")
    _drop_photo(page, PHOTO)
    found = page.locator("[data-found-face]").first
    expect(found).to_contain_text("Most like George W Bush", timeout=TIMEOUT_MS)
    expect(found.locator(f"a[href='/creators/{creator}']")).to_be_visible()
    SHOTS["search"] = t.shot("search")
    found.locator(f"[data-video='{video}'] a").click()
    expect(page.locator("#video-tags")).to_contain_text("George W Bush")
    assert page.url.endswith(f"/videos/{video}")


def _drop_photo(page, path: Path) -> None:
    """Drops a file on /search's drop zone as a person dragging it from their desktop would."""
    data = base64.b64encode(path.read_bytes()).decode()
    page.evaluate(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
            const zone = document.getElementById('dropzone');
            for (const type of ['dragenter', 'dragover', 'drop']) {
                zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }""",
        [path.name, data],
    )


def test_the_creator_and_video_pages_after_the_review(tab, web_library, truth):
    """A creator's references (with their source) and tagged videos; a video's frames with boxes drawn and its faces.
    Then every page's screenshot goes to docs/ (see the module docstring)."""
    from playwright.sync_api import expect

    creator = truth["legacy_creator_ids"]["George W Bush"]
    video = truth["legacy_video_ids"]["videos/slideshow_03.mp4"]
    t = tab()
    page = t.page
    t.goto(f"/creators/{creator}")
    expect(page.locator("#creator-name")).to_have_text("George W Bush")
    expect(page.locator("[data-reference]").first).to_contain_text("profile picture")
    expect(page.locator(f"#tagged-videos [data-video='{video}']")).to_be_visible()
    SHOTS["creator"] = t.shot("creator")

    t.goto(f"/videos/{video}")
    expect(page.locator(".frame .box").first).to_be_visible()
    expect(page.locator("#video-tags")).to_contain_text("George W Bush")
    expect(page.locator("#video-faces tbody tr").first).to_be_visible()
    SHOTS["video"] = t.shot("video")

    missing = [name for name in SCREENSHOT_PAGES if name not in SHOTS]
    assert not missing, f"no screenshot of {missing} (an earlier test failed)"
    if os.environ.get("FACE_ASSETS_UPDATE_SCREENSHOTS") == "1" or not all(
        (DOCS / f"screenshot-{name}.png").exists() for name in SCREENSHOT_PAGES
    ):
        DOCS.mkdir(exist_ok=True)
        for name in SCREENSHOT_PAGES:
            shutil.copyfile(SHOTS[name], DOCS / f"screenshot-{name}.png")
