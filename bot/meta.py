"""Operational routes: health check, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot.http import json_response
from bot.typedefs import DB_ENGINE, METRICS, REDIS, SLA
from core.yamlfile import load_yaml

log = logging.getLogger("bot.meta")
OPENAPI_FILE = Path(__file__).parent / "data" / "openapi.yml"

routes = web.RouteTableDef()


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document, read once from bot/data/openapi.yml."""
    return dict(load_yaml(OPENAPI_FILE))


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 when the database and Redis answer, 503 naming what does not."""
    checks: dict[str, str] = {}
    try:
        async with request.app[DB_ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        log.error("health check: database unavailable: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    try:
        await request.app[REDIS].ping()
        checks["redis"] = "ok"
    except Exception as exc:
        log.error("health check: redis unavailable: %s", type(exc).__name__)
        checks["redis"] = "unavailable"
    healthy = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks, "worker": os.getpid(),
            "sla_leader": request.app[SLA].is_leader}
    return json_response(body, status=200 if healthy else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this worker's metrics."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The API's OpenAPI 3.1 description."""
    return json_response(openapi_document())


@web.middleware
async def metrics_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Count requests by route template (not raw path, so ids do not explode the label set)."""
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[METRICS].http_requests.labels(route, str(status)).inc()
