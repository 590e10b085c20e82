"""The review app's server-rendered pages: `router`, included by face_assets.web.app.create_app().

Each route validates its parameters, reads through face_assets.review.page_queries (plain functions, SQL in
sql/pages/) and renders a Jinja2 template (autoescaped: a creator called `<script>` shows as text). Pages change
nothing themselves: their buttons call the JSON API under /api/face-recognition/ (static/app.js), which makes
each decision through face_assets.review, so the pages, the API and the CLI decide alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jinja2
import psycopg
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from face_assets import settings
from face_assets.review import page_queries as pq
from face_assets.review import queries as rq
from face_assets.review import stats as review_stats
from face_assets.review.timeline import creator_timeline, video_timeline
from face_assets.web.deps import db

HERE = Path(__file__).resolve().parent
API = "/api/face-recognition"
IMAGES = "/images"
REVIEW_GROUPS = 20  # (video, creator) groups per page of /review
CLUSTER_CARDS = 24  # cluster cards per page of /people
CLUSTER_FACES = 48  # faces per page of /people/{id}
CURSOR = re.compile(r"[0-9eE.+_-]{1,80}")

router = APIRouter(include_in_schema=False)
# Autoescape on for every template: names come from the library (a creator called `<script>` is text).
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True))


# --- what every page needs ----------------------------------------------------------------------------------------------


def dagster_ui_url(request: Request) -> str:
    """Where the Dagster UI is (the app's setting, http://127.0.0.1:3000 unless configured), for the page links."""
    web = getattr(request.app.state, "web", None)
    return ((web.dagster_ui if web is not None else None) or settings.dagster_ui_url()).rstrip("/")


def crop_url(detection_id: int | None, size: str = "thumb") -> str:
    return f"{IMAGES}/detection/{int(detection_id or 0)}.jpg" + ("" if size == "thumb" else f"?size={size}")


def frame_url(video_id: int, frame_index: int) -> str:
    return f"{IMAGES}/frame/{int(video_id)}/{int(frame_index)}.jpg"


def creator_picture_url(creator_id: int) -> str:
    return f"{IMAGES}/creator/{int(creator_id)}.jpg"


def reference_url(embedding_id: int) -> str:
    """A creator's known face: the profile picture, a reference image, or a confirmed face's crop."""
    return f"{IMAGES}/reference/{int(embedding_id)}.jpg"


def seconds(value: float | None) -> str:
    """1.68 -> '0:01.7': frame times as a person reads them."""
    if value is None:
        return ""
    minutes, rest = divmod(float(value), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def similarity(value: float | None) -> str:
    return "" if value is None else f"{float(value):.2f}"


# Where a known face came from (creator_face_embeddings.source_type) and who tagged a video (video_creators.source):
# 'manual' means a reference-folder image in the first, a person's review decision in the second.
REFERENCE_LABELS = {"profile_picture": "profile picture", "manual": "reference folder", "video_frame": "confirmed face"}
TAG_LABELS = {"legacy": "legacy app", "manual": "a person (review)", "face_recognition": "face recognition"}

templates.env.globals.update(
    api=API,
    crop_url=crop_url,
    frame_url=frame_url,
    creator_picture_url=creator_picture_url,
    reference_url=reference_url,
    source_label=lambda s: REFERENCE_LABELS.get(s, s),
    tag_label=lambda s: TAG_LABELS.get(s, s),
)
templates.env.filters.update(seconds=seconds, similarity=similarity, basename=lambda p: Path(p or "").name)


def render(request: Request, template: str, nav: str, status_code: int = 200, **context) -> HTMLResponse:
    """The template with what the layout needs: `nav` names the page (menu, body data-page for static/app.js)."""
    context.update(nav=nav, dagster_ui=dagster_ui_url(request))
    return templates.TemplateResponse(request, template, context, status_code=status_code)


@contextmanager
def connection(request: Request) -> Iterator[psycopg.Connection]:
    """The request's connection (face_assets.web.deps), read-only: pages never write, the API does."""
    with db(request) as conn:
        conn.read_only = True
        yield conn


def _not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")


def _cursor(after: str | None) -> str | None:
    """A keyset cursor from the query string (digits, dots, signs, 'e' and '_' only: 400 otherwise)."""
    if not after:
        return None
    if not CURSOR.fullmatch(after):
        raise HTTPException(status_code=400, detail="malformed page cursor")
    return after


@contextmanager
def _bad_cursor() -> Iterator[None]:
    try:
        yield
    except rq.BadCursor as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def frame_boxes(detail: dict) -> list[dict]:
    """The video's frames, each with its faces and their boxes in percent of the frame (drawn over the image at
    whatever size the page shows it)."""
    frames = [dict(f, faces=[]) for f in detail["frames"]]
    by_index = {f["frame_index"]: f for f in frames}
    for face in detail["faces"]:
        frame = by_index.get(face["frame_index"])
        if frame is None or not frame.get("width") or not frame.get("height"):
            continue
        x, y, w, h = face["bbox"]
        box = {
            "left": 100 * x / frame["width"],
            "top": 100 * y / frame["height"],
            "width": 100 * w / frame["width"],
            "height": 100 * h / frame["height"],
        }
        frame["faces"].append(dict(face, box={k: round(max(0.0, min(100.0, v)), 2) for k, v in box.items()}))
    return frames


# --- pages --------------------------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    with connection(request) as conn:
        ready = conn.execute("SELECT to_regclass('video_face_detections')").fetchone()[0] is not None
        stats = review_stats.recognition_stats(conn) if ready else {}
        failed = rq.failed_videos(conn) if ready else []
        bad = pq.bad_files(conn)
    return render(
        request,
        "home.html",
        "home",
        sections=review_stats.stats_sections(stats),
        stats=stats,
        failed=failed,
        bad_files=bad,
    )


@router.get("/review", response_class=HTMLResponse)
def review(request: Request, after: str | None = Query(None, max_length=80)) -> HTMLResponse:
    after = _cursor(after)
    with connection(request) as conn, _bad_cursor():
        page = rq.pending_groups(conn, REVIEW_GROUPS, after)
        waiting = pq.pending_count(conn)
        explained = pq.explain_faces(conn, [f.detection_id for g in page.items for f in g.shown])
        references = pq.creator_references(conn, sorted({g.creator_id for g in page.items}))
    return render(
        request,
        "review.html",
        "review",
        page=page,
        waiting=waiting,
        explained=explained,
        references=references,
        after=after,
    )


@router.get("/people", response_class=HTMLResponse)
def people(
    request: Request,
    after: str | None = Query(None, max_length=80),
    status: str = Query("open", pattern="^(open|named|ignored|merged)$"),
) -> HTMLResponse:
    after = _cursor(after)
    with connection(request) as conn, _bad_cursor():
        ready = conn.execute("SELECT to_regclass('face_clusters')").fetchone()[0] is not None
        page = rq.clusters_page(conn, status, CLUSTER_CARDS, after) if ready else rq.Page([], None)
    return render(request, "people.html", "people", page=page, status=status, after=after)


@router.get("/people/{cluster_id}", response_class=HTMLResponse)
def cluster(request: Request, cluster_id: int, after: str | None = Query(None, max_length=80)) -> HTMLResponse:
    after = _cursor(after)
    with connection(request) as conn, _bad_cursor():
        detail = rq.cluster_detail(conn, cluster_id, CLUSTER_FACES, after)
        if detail is None:
            raise _not_found(f"cluster {cluster_id}")
        nearby = []
        if detail["cluster"]["status"] == "open":
            alike = pq.nearby_clusters(conn, cluster_id)
            cards = {c.id: c for c in rq.clusters_by_id(conn, [i for i, _ in alike], samples=2)}
            nearby = [(cards[i], sim) for i, sim in alike if i in cards]
    return render(
        request,
        "cluster.html",
        "people",
        cluster=detail["cluster"],
        faces=detail["faces"],
        next_cursor=detail["next_cursor"],
        videos=detail["videos"],
        nearby=nearby,
        after=after,
    )


@router.get("/creators/{creator_id}", response_class=HTMLResponse)
def creator(request: Request, creator_id: int) -> HTMLResponse:
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.review.forget import forgotten_at

    with connection(request) as conn:
        config = RecognitionConfig.load(conn)
        detail = rq.creator_detail(conn, creator_id, config)
        appearances = creator_timeline(conn, creator_id) if detail is not None else []
        forgotten = forgotten_at(conn, creator_id) if detail is not None else None
    if detail is None:
        raise _not_found(f"creator {creator_id}")
    return render(
        request,
        "creator.html",
        "creator",
        creator=detail,
        config=config,
        appearances=appearances,
        forgotten_at=forgotten,
    )


@router.get("/videos/{video_id}", response_class=HTMLResponse)
def video(request: Request, video_id: int) -> HTMLResponse:
    with connection(request) as conn:
        detail = rq.video_detail(conn, video_id)
        timeline = video_timeline(conn, video_id) if detail is not None else None
    if detail is None:
        raise _not_found(f"video {video_id}")
    return render(request, "video.html", "video", video=detail, frames=frame_boxes(detail), timeline=timeline)


@router.get("/search", response_class=HTMLResponse)
def search(request: Request) -> HTMLResponse:
    return render(request, "search.html", "search")
