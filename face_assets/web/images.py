"""Images by id: a face crop by detection id, a cluster's representative face, a creator's profile picture, a
creator's known face, a sampled frame. The file is looked up in the database; no path is ever taken from a request.

A missing file (or an id that names nothing) gives a placeholder image, never a 500: 200 for a known id whose file is
gone, 404 for an unknown id (the body is the placeholder either way, so a page shows a grey face, not a broken
image). Thumbnails are scaled down on the server and cacheable (ETag from the file's size and mtime).
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from face_assets.db.sql_files import read_sql
from face_assets.web.deps import db

router = APIRouter(prefix="/images", tags=["images"])

SIZES = {"thumb": 112, "medium": 320, "full": 1600}
Size = Literal["thumb", "medium", "full"]
CACHE = "private, max-age=86400"


@lru_cache(maxsize=4)
def placeholder(side: int) -> bytes:
    """A grey head-and-shoulders silhouette (PNG), drawn once per size."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side), (224, 224, 228))
    draw = ImageDraw.Draw(image)
    c = side / 2
    draw.ellipse((c - side * 0.17, side * 0.18, c + side * 0.17, side * 0.52), fill=(176, 176, 184))
    draw.ellipse((c - side * 0.33, side * 0.58, c + side * 0.33, side * 1.1), fill=(176, 176, 184))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _placeholder_response(size: Size, status: int) -> Response:
    return Response(
        placeholder(min(SIZES[size], 320)),
        status_code=status,
        media_type="image/png",
        headers={"Cache-Control": "no-store", "X-Placeholder": "1"},
    )


def _serve_file(request: Request, path: str | None, size: Size) -> Response:
    if not path:
        return _placeholder_response(size, 200)
    file = Path(path)
    try:
        stat = file.stat()
    except OSError:
        return _placeholder_response(size, 200)
    if not file.is_file():
        return _placeholder_response(size, 200)
    etag = '"' + hashlib.sha1(f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{size}".encode()).hexdigest()[:20] + '"'
    headers = {"Cache-Control": CACHE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    try:
        body, media = _scaled(file, SIZES[size])
    except Exception:  # a damaged image file is shown as missing, not as an error page
        return _placeholder_response(size, 200)
    return Response(body, media_type=media, headers=headers)


def _scaled(file: Path, side: int) -> tuple[bytes, str]:
    from PIL import Image, ImageOps

    with Image.open(file) as image:
        if max(image.size) <= side and image.format == "JPEG":
            return file.read_bytes(), "image/jpeg"
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        return out.getvalue(), "image/jpeg"


def _lookup(request: Request, kind: str, params: tuple, size: Size) -> Response:
    """The image whose path sql/images/<kind>.sql finds for `params` (never a path taken from the request)."""
    with db(request) as conn:
        row = conn.execute(read_sql(f"images/{kind}.sql"), params).fetchone()
    if row is None:
        return _placeholder_response(size, 404)
    return _serve_file(request, row[0], size)


@router.get("/detection/{detection_id}.jpg", summary="A face crop by detection id")
def detection_image(request: Request, detection_id: int, size: Size = "thumb") -> Response:
    return _lookup(request, "detection", (detection_id,), size)


@router.get("/cluster/{cluster_id}.jpg", summary="A cluster's representative face")
def cluster_image(request: Request, cluster_id: int, size: Size = "thumb") -> Response:
    return _lookup(request, "cluster", (cluster_id,), size)


@router.get("/creator/{creator_id}.jpg", summary="A creator's profile picture")
def creator_image(request: Request, creator_id: int, size: Size = "thumb") -> Response:
    return _lookup(request, "creator", (creator_id,), size)


@router.get("/reference/{embedding_id}.jpg", summary="A creator's known face (picture, reference image or crop)")
def reference_image(request: Request, embedding_id: int, size: Size = "thumb") -> Response:
    return _lookup(request, "reference", (embedding_id,), size)


@router.get("/frame/{video_id}/{frame_index}.jpg", summary="A sampled frame of a video")
def frame_image(request: Request, video_id: int, frame_index: int, size: Size = "medium") -> Response:
    return _lookup(request, "frame", (video_id, frame_index), size)
