"""The legacy app's face service, served at the app's root (issue 18): GET /health, POST /detect, POST
/extract-embedding, in the shapes its client reads (rafaelchagas9/video_backend,
src/modules/face-recognition/face-recognition.types.ts; face-service/src/face_service/routes/), so that the legacy
app's FACE_SERVICE_URL may name this app.

- A photo comes as multipart field `file` (the client's detectFacesFromFile) or as JSON `{"image_base64": ...}` (its
  detectFaces); both go through the same checks and decode as every upload (face_assets.web.uploads) and give the
  same answer. An empty, non-image, damaged or too large photo: 400 / 413 with `detail`, as the legacy service.
- Faces come from the app's FaceEngine, run in the bounded inference pool (face_assets.web.inference): busy beyond
  its queue, 503 with Retry-After at once. Boxes are in pixels of the photo as sent (upright, EXIF applied, before
  the decode scales a large photo down); embeddings are L2-normalised.
- `age` (years, an int) and `gender` ("M" / "F") come from the pack's genderage model when it has one (buffalo_l,
  antelopev2: genderage.onnx), loaded beside the engine on the first request and run in the same inference slot as
  the detection (face_assets.engine.attributes: InsightFace's own crop and reading of it, on the CPU); the pipeline
  never loads it. A pack without one (the fixture pack buffalo_sc) gives null for both, as the legacy contract
  allows. `landmark_2d_106` (optional) is left out.
- `GET /health` answers 200 in every state, the state in the body's `status` (healthy, degraded, unhealthy, with
  `model_error`): the legacy client reads the body of a 2xx only (any other status is "unhealthy" without a
  reason). A probe that needs a status code uses `GET /ready` (face_assets.web.probes: 503 while PostgreSQL does
  not answer); a model that cannot load shows in /health's body and as 503 on the model calls.
- Nothing is written; the app's loopback / token rules apply to these paths as to every other.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from face_assets import settings
from face_assets.web.deps import DatabaseUnavailable, WebState, connect, state
from face_assets.web.inference import limiter
from face_assets.web.uploads import MAX_BYTES, UploadError, decode_photo_sized, read_limited

log = logging.getLogger("face_assets.web")

router = APIRouter(tags=["face service (the legacy app's contract)"])

EMBEDDING_DIMENSION = 512
# Base64 makes 3 bytes 4 characters; line breaks and the JSON around it get 5% and 64 KiB more.
MAX_JSON_BYTES = MAX_BYTES * 4 // 3 * 105 // 100 + 64 * 1024
MAX_MULTIPART_BYTES = MAX_BYTES + 1024 * 1024  # the file plus its part headers and boundaries
TOO_LARGE = f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB"
SEND = 'send the photo as multipart field "file" or as JSON {"image_base64": "..."}'

PHOTO_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["image_base64"],
                    "properties": {"image_base64": {"type": "string", "description": "the image file, base64"}},
                }
            },
        },
    }
}


@dataclass
class Found:
    """The faces of one photo, boxes already in pixels of the photo as sent."""

    faces: list[dict[str, Any]]
    width: int
    height: int


def detect_photo(web: WebState, content: bytes) -> Found:
    """Decode (the uploads' checks, so a bad photo never reaches the model) and detect; on an inference thread."""
    image, (width, height) = decode_photo_sized(content)
    scale = width / image.shape[1]  # > 1 when the decode scaled a large photo down
    engine = web.engine()
    genderage = _genderage(engine)
    faces = []
    for face in engine.detect([image])[0]:
        guess = genderage.predict(image, face.bbox) if genderage is not None else None
        faces.append(
            {
                "bbox": [round(float(v) * scale, 2) for v in face.bbox],
                "det_score": round(float(face.det_score), 6),
                "embedding": np.asarray(face.embedding, dtype=np.float32).tolist(),
                "age": guess.age if guess else None,
                "gender": guess.gender if guess else None,
            }
        )
    return Found(faces, width, height)


def _genderage(engine: Any) -> Any:
    """The pack's age/gender model (face_assets.engine.attributes.GenderAgeModel), or None when the pack has none;
    loaded on first use from the folder the engine resolved. On an inference thread (its first load included)."""
    model_info = getattr(engine, "model_info", None)
    if model_info is None:
        return None  # an engine without a pack folder (a test double)
    from face_assets.engine.attributes import genderage_model  # imported late: it brings Dagster's logger

    info = model_info()
    return genderage_model(
        info["model_dir"],
        skip=(info.get("detector", ""), info.get("recognizer", "")),
        intra_op_threads=int(info.get("intra_op_threads") or 0),
    )


def _area(face: dict[str, Any]) -> float:
    x1, y1, x2, y2 = face["bbox"]
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


# --- reading the request ---------------------------------------------------------------------------------------------


def _from_json(body: bytes) -> bytes:
    """The photo's bytes from a JSON body `{"image_base64": ...}` (a data: URL prefix and line breaks allowed)."""
    if not body.strip():
        raise UploadError(400, f"the request is empty: {SEND}")
    try:
        payload = json.loads(body)
    except ValueError:
        raise UploadError(400, f"the body is not valid JSON: {SEND}") from None
    text = payload.get("image_base64") if isinstance(payload, dict) else None
    if not isinstance(text, str):
        raise UploadError(400, f'the JSON body has no "image_base64" string: {SEND}')
    if text.startswith("data:") and "base64," in text[:100]:
        text = text.split("base64,", 1)[1]
    try:
        content = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(400, "image_base64 is not valid base64") from None
    if len(content) > MAX_BYTES:
        raise UploadError(413, TOO_LARGE)
    return content


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise UploadError(413, TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


async def _photo_source(request: Request) -> tuple[Callable[[], bytes], Callable[[], Any] | None]:
    """(a function giving the photo's bytes, to run on an inference thread; a clean-up to await afterwards).

    Only the network reading happens here, on the event loop; base64 and JSON decoding are CPU work and wait for an
    inference slot like the model call."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > (
        MAX_MULTIPART_BYTES if kind.startswith("multipart/") else MAX_JSON_BYTES
    ):
        raise UploadError(413, TOO_LARGE)
    if kind == "multipart/form-data":
        form = await request.form(max_files=4, max_fields=16)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            await form.close()
            raise UploadError(400, f'no file in multipart field "file": {SEND}')
        return (lambda: read_limited(upload.file)), form.close
    if kind not in ("application/json", "") and not kind.endswith("+json"):
        raise UploadError(400, f"unexpected Content-Type {kind!r}: {SEND}")
    body = await _read_body(request, MAX_JSON_BYTES)
    return (lambda: _from_json(body)), None


async def _detect(request: Request) -> tuple[Found, float]:
    started = time.perf_counter()
    pool = limiter(request)
    pool.check()  # refused before the body is read when every slot is taken
    read, close = await _photo_source(request)
    web = state(request)
    try:
        found = await pool.run(lambda: detect_photo(web, read()))
    except Exception as exc:
        from face_assets.engine.models import FaceEngineError  # imported late: it brings Dagster's logger

        if not isinstance(exc, FaceEngineError):
            raise
        log.error("the face model cannot be loaded: %s", exc)
        raise HTTPException(503, f"the face model cannot be loaded: {exc}") from None
    finally:
        if close is not None:
            await close()
    return found, (time.perf_counter() - started) * 1000


def _answer(found: Found, took_ms: float, **extra: Any) -> JSONResponse:
    # A JSONResponse as it is: FastAPI's encoder would walk each of the 512 floats of every face again.
    return JSONResponse(
        {
            **extra,
            "faces": found.faces,
            "image_width": found.width,
            "image_height": found.height,
            "processing_time_ms": round(took_ms, 2),
        }
    )


# --- routes ----------------------------------------------------------------------------------------------------------


@router.post("/detect", summary="Faces of a photo: boxes, scores, 512-d embeddings", openapi_extra=PHOTO_BODY)
async def detect(request: Request) -> JSONResponse:
    found, took_ms = await _detect(request)
    return _answer(found, took_ms)


@router.post(
    "/extract-embedding", summary="The embedding of the largest face of a photo (422: none)", openapi_extra=PHOTO_BODY
)
async def extract_embedding(request: Request) -> JSONResponse:
    found, took_ms = await _detect(request)
    if not found.faces:
        return JSONResponse({"detail": "no face found in the photo"}, status_code=422)
    # The legacy service answered in /detect's shape; faces come largest first, and the top-level fields name it.
    found.faces.sort(key=_area, reverse=True)
    largest = found.faces[0]
    return _answer(found, took_ms, embedding=largest["embedding"], bbox=largest["bbox"], det_score=largest["det_score"])


def _model_state(web: WebState) -> tuple[dict[str, Any], str | None]:
    """(what /health reports of the model, why it cannot detect or None); loads the model on first use."""
    try:
        engine = web.engine()
        info = engine.model_info()
        return {
            "model": info.get("name") or settings.model_name(),
            "onnx_providers": list(info.get("providers") or []),
            "embedding_dimension": int(info.get("embedding_dim") or EMBEDDING_DIMENSION),
        }, None
    except Exception as exc:  # any failure to load means no detection, whatever its type
        log.warning("health: the face model is not usable: %s", exc)
        import onnxruntime

        return {
            "model": settings.model_name(),
            "onnx_providers": list(onnxruntime.get_available_providers()),
            "embedding_dimension": EMBEDDING_DIMENSION,
        }, f"{exc.__class__.__name__}: {exc}"


def _database_answers(web: WebState) -> bool:
    try:
        with connect(web) as conn:
            conn.execute("SELECT 1")
        return True
    except (DatabaseUnavailable, psycopg.Error):
        return False


@router.get(
    "/health", summary="200: healthy (model and database), degraded (no database), unhealthy (no model) in `status`"
)
async def health(request: Request) -> JSONResponse:
    from importlib import metadata

    web = state(request)
    model, model_error = await run_in_threadpool(_model_state, web)
    database = await run_in_threadpool(_database_answers, web)
    status = "unhealthy" if model_error else ("healthy" if database else "degraded")
    body = {
        "status": status,
        "version": metadata.version("face_assets"),
        **model,
        "uptime_seconds": round(time.monotonic() - request.app.state.started, 1),
        "database": "ok" if database else "unreachable",
        "inference": limiter(request).stats(),
    }
    if model_error:
        body["model_error"] = model_error
    # 200 whatever the state: the legacy client reads the body of a 2xx only, and drops the reason (model_error) of
    # any other answer. A probe that needs a status code uses GET /ready (face_assets.web.probes).
    return JSONResponse(body)
