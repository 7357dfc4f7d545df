"""Health, metrics and the OpenAPI document."""

from __future__ import annotations

import os

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import Visitor


async def test_healthz_reports_database_and_redis(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert {k: body[k] for k in ("status", "database", "redis")} == {"status": "ok", "database": "ok", "redis": "ok"}
    assert body["worker"] == os.getpid()


async def test_metrics_count_turns_by_flow(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("你好")
    await visitor.say("阿巴阿巴")
    text = await (await client.get("/metrics")).text()
    assert 'yichuang_turns_total{channel="web",flow="smalltalk"} 1.0' in text
    assert 'yichuang_turns_total{channel="web",flow="fallback"} 1.0' in text
    assert 'yichuang_http_requests_total{route="/api/v1/messages",status="200"} 2.0' in text


async def test_openapi_document_matches_the_registered_routes(client: TestClient) -> None:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    registered = set()
    for route in client.app.router.routes():
        info = route.resource.canonical if route.resource is not None else ""
        if route.method in ("HEAD", "*") or isinstance(route.resource, web.StaticResource):  # /static, /console/static
            continue
        registered.add((info, route.method))
    assert documented == registered


async def test_chat_page_is_served(client: TestClient) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    html = await resp.text()
    assert "政务服务智能助手" in html and "/static/chat.js" in html
    js = await client.get("/static/chat.js")
    assert js.status == 200 and "/api/v1/messages" in await js.text()
