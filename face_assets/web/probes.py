"""Probes for a process supervisor (Kubernetes, a load balancer): `GET /live` and `GET /ready`.

- `/live`: 200 while the app answers requests at all; it asks nothing of the database or the model, so an outage of
  either never gets the app restarted (a restart would not bring PostgreSQL back).
- `/ready`: 200 when PostgreSQL answers within READY_CONNECT_TIMEOUT_S, else 503: the app is taken out of the
  service's endpoints while its database is down, and put back once it answers again.

Both answer without the token (a probe cannot carry a secret) and say nothing but the states above.
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from face_assets.web.deps import WebState, state

log = logging.getLogger("face_assets.web")

PROBE_PATHS = ("/live", "/ready")
READY_CONNECT_TIMEOUT_S = 2  # libpq's smallest connect timeout; probes allow 3 s (deploy/review-app.yaml)

router = APIRouter(tags=["probes"])


@router.get("/live", summary="Liveness: the app answers")
def live() -> dict:
    return {"status": "alive"}


@router.get("/ready", summary="Readiness: 200 when PostgreSQL answers, 503 otherwise")
def ready(web: WebState = Depends(state)) -> JSONResponse:
    try:
        with psycopg.connect(
            web.database_url, connect_timeout=READY_CONNECT_TIMEOUT_S, application_name="face_assets_ready"
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        log.warning("not ready: the database does not answer (%s)", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable"}, status_code=503, headers={"Retry-After": "5"}
        )
    return JSONResponse({"status": "ready", "database": "reachable"})
