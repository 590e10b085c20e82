"""The review app: `create_app()` assembles the API, the image routes, the pages and the safety rules.

Safety (issue 11):
- it binds 127.0.0.1 unless FACE_ASSETS_WEB_TOKEN is set; with a token every page and API call needs it (the login
  form sets a cookie holding a value derived from the token, never the token; the API also takes
  `Authorization: Bearer <token>`);
- without a token, only loopback Host headers are served (a DNS-rebinding page cannot reach the app under its own
  name);
- writes (POST/PATCH/PUT/DELETE) whose Origin, or else Referer, is not the app's own get 403; clients that send
  neither (the legacy backend, curl) are allowed, the token still applying when set;
- PostgreSQL unreachable: 503 with a message, and since every request connects anew the app recovers by itself;
- errors never echo a secret: the database URL and the token appear in no response and no log line.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from face_assets import settings
from face_assets.review import decisions as review
from face_assets.review.queries import BadCursor
from face_assets.web.deps import DatabaseUnavailable, ModelUnavailable, WebState
from face_assets.web.inference import InferenceBusy, InferenceLimiter
from face_assets.web.probes import PROBE_PATHS  # open without the token: a kubelet cannot send it
from face_assets.web.uploads import UploadError

log = logging.getLogger("face_assets.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = "face_assets_session"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
OPEN_PATHS = ("/login", "/static/")  # reachable without the token (the login form and its styles)
DB_DOWN = "PostgreSQL is not reachable right now; the app retries on the next request"


def session_value(token: str) -> str:
    """What the login cookie holds: derived from the token, so the cookie never carries the token itself."""
    return hmac.new(token.encode(), b"face-assets-web-session", hashlib.sha256).hexdigest()


def create_app(
    *,
    database_url: str | None = None,
    host: str = "127.0.0.1",
    token: str | None = None,
    instance_factory: Callable[[], Any] | None = None,
    engine_factory: Callable[[], Any] | None = None,
    dagster_ui: str | None = None,
) -> FastAPI:
    """The app. `database_url` defaults to DATABASE_URL (else the embedded server's), `token` to
    FACE_ASSETS_WEB_TOKEN; `host` is the address it will be served on (a non-loopback one needs a token)."""
    token = token if token is not None else settings.web_token()
    settings.check_binding(host, token)
    if database_url is None:
        from face_assets.db import embedded_postgres

        database_url = embedded_postgres.app_database_url()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.inference.shutdown()

    app = FastAPI(
        title="face_assets review",
        description="Review face matches and clusters of unknown faces; the face recognition API; the legacy "
        "app's face service (/health, /detect, /extract-embedding).",
        version="1",
        lifespan=lifespan,
    )
    app.state.started = time.monotonic()
    # Model calls of every route share one bounded pool (FACE_ASSETS_INFERENCE_WORKERS, FACE_ASSETS_INFERENCE_QUEUE).
    app.state.inference = InferenceLimiter.from_settings()
    app.state.web = WebState(
        database_url=database_url,
        host=host,
        token=token,
        dagster_ui=dagster_ui,
        instance_factory=instance_factory,
        engine_factory=engine_factory,
    )
    _install_safety(app)
    _install_errors(app)
    _install_login(app)

    from face_assets.web import api, face_service, images, pages, probes

    app.include_router(probes.router)
    app.include_router(face_service.router)
    app.include_router(api.router)
    app.include_router(images.router)
    app.include_router(pages.router)
    STATIC_DIR.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def serve_app() -> FastAPI:
    """The app `face-assets serve` runs (uvicorn calls this factory by its import string, so the command line never
    imports the web app): address and Dagster UI from FACE_ASSETS_WEB_HOST and FACE_ASSETS_DAGSTER_UI, which the
    command sets from its flags. Dagster's instance is opened on first use only: serving pages needs no Dagster."""
    from dagster import DagsterInstance

    instance_holder: list = []

    def instance():
        if not instance_holder:
            instance_holder.append(DagsterInstance.get())
        return instance_holder[0]

    return create_app(host=settings.web_host(), instance_factory=instance, dagster_ui=settings.dagster_ui_url())


# --- safety ------------------------------------------------------------------------------------------------------------


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}".lower()


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _authenticated(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), session_value(token).encode())


FACE_SERVICE_PATHS = ("/health", "/detect", "/extract-embedding")  # the legacy app's face service: JSON, never a login


def _is_api(path: str) -> bool:
    return path.startswith(("/api/", "/images/")) or path in ("/docs", "/openapi.json", "/redoc", *FACE_SERVICE_PATHS)


def _install_safety(app: FastAPI) -> None:
    @app.middleware("http")
    async def safety(request: Request, call_next):
        web: WebState = request.app.state.web
        path = request.url.path
        host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
        if not web.token and not settings.is_loopback(host):
            return JSONResponse({"detail": "this app answers only on 127.0.0.1 / localhost"}, status_code=403)
        if request.method in WRITE_METHODS:
            origin = request.headers.get("origin")
            referer = request.headers.get("referer")
            seen = origin if origin is not None else (_origin_of(referer) or "unreadable referer" if referer else None)
            if seen is not None and seen.lower() != _own_origin(request):
                log.warning("refused a cross-origin %s %s (origin %s)", request.method, path, seen)
                return JSONResponse(
                    {"detail": "cross-origin write refused: the request does not come from this app's own pages"},
                    status_code=403,
                )
        open_path = path.startswith(OPEN_PATHS) or path in PROBE_PATHS
        if web.token and not open_path and not _authenticated(request, web.token):
            if _is_api(path) or request.method != "GET":
                return JSONResponse(
                    {"detail": "the token is required (Authorization: Bearer <token>, or log in)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            target = path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return await call_next(request)


# --- errors ------------------------------------------------------------------------------------------------------------


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(review.ReviewConflict)
    async def conflict(request: Request, exc: review.ReviewConflict):
        return JSONResponse({"detail": str(exc), "current": [s.as_json() for s in exc.current]}, status_code=409)

    @app.exception_handler(review.ReviewNotFound)
    async def not_found(request: Request, exc: review.ReviewNotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(review.ReviewError)
    async def cannot(request: Request, exc: review.ReviewError):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(BadCursor)
    async def bad_cursor(request: Request, exc: BadCursor):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(UploadError)
    async def bad_upload(request: Request, exc: UploadError):
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(InferenceBusy)
    async def busy(request: Request, exc: InferenceBusy):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(ModelUnavailable)
    async def model_unavailable(request: Request, exc: ModelUnavailable):
        # Another model than the database's, or one that does not load: the reason, in one line (never a 500).
        log.warning("the face model is not usable: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(DatabaseUnavailable)
    async def db_unavailable(request: Request, exc: DatabaseUnavailable):
        return _unavailable(request, DB_DOWN)

    @app.exception_handler(psycopg.OperationalError)
    async def db_lost(request: Request, exc: psycopg.OperationalError):
        log.warning("database error on %s %s: %s", request.method, request.url.path, exc.__class__.__name__)
        return _unavailable(request, DB_DOWN)

    @app.exception_handler(psycopg.errors.UndefinedTable)
    async def no_tables(request: Request, exc: psycopg.errors.UndefinedTable):
        return _unavailable(request, "the face tables are not there yet: run the pipeline first (face-assets run)")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # FastAPI's default, with one readable sentence first (pages show `message`).
        errors = exc.errors()
        message = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg')}" for e in errors
        )
        safe = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors]
        return JSONResponse({"detail": safe, "message": message}, status_code=422)


def _unavailable(request: Request, message: str) -> Response:
    if _is_api(request.url.path) or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": "5"})
    page = (
        f"<!doctype html><meta charset=utf-8><title>Unavailable</title><h1>Unavailable</h1>"
        f'<p>{html.escape(message)}</p><p><a href="{html.escape(request.url.path)}">Try again</a></p>'
    )
    return HTMLResponse(page, status_code=503, headers={"Retry-After": "5"})


# --- login (only with a token) -------------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    # Only a path of this app: never an absolute URL or a scheme-relative //host (no open redirect).
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


LOGIN_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in - face_assets review</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/app.css"></head>
<body class="login"><main>
<h1>face_assets review</h1>
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
{error}
</form></main></body></html>
"""


def _install_login(app: FastAPI) -> None:
    from fastapi import Form

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        if not request.app.state.web.token:
            return RedirectResponse(_safe_next(next), status_code=303)
        return HTMLResponse(LOGIN_FORM.format(next=html.escape(_safe_next(next)), error=""))

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: str = Form(""), next: str = Form("/")) -> Response:
        web: WebState = request.app.state.web
        if not web.token:
            return RedirectResponse(_safe_next(next), status_code=303)
        if not hmac.compare_digest(token.encode(), web.token.encode()):
            log.warning("a login with a wrong token from %s", request.client.host if request.client else "?")
            page = LOGIN_FORM.format(
                next=html.escape(_safe_next(next)), error='<p class="error" role="alert">That is not the token.</p>'
            )
            return HTMLResponse(page, status_code=401)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            COOKIE,
            session_value(web.token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=30 * 24 * 3600,
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response
