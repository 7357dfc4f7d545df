"""The staff KB API: admins reload the knowledge base on every worker; supervisors list KB gaps."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from bot.typedefs import KB
from tests.conftest import Visitor, new_visitor
from tests.handoff.test_staff import add_staff, logged_in


async def test_admin_reloads_the_kb_and_agents_may_not(client: TestClient) -> None:
    await add_staff(client, "agent1", windows=("综合",))
    csrf = await logged_in(client, "agent1")
    refused = await client.post("/api/v1/agent/kb/reload", json={}, headers={"X-CSRF-Token": csrf})
    assert refused.status == 403
    await add_staff(client, "admin1", role="admin", windows=())
    csrf = await logged_in(client, "admin1")
    before = client.app[KB].generation
    resp = await client.post("/api/v1/agent/kb/reload", json={"seed": True}, headers={"X-CSRF-Token": csrf})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["workers_notified"] >= 1 and body["items"] == len(client.app[KB].current.items) >= 40
    assert client.app[KB].generation > before  # a new snapshot was built, not just announced
    bad = await client.post("/api/v1/agent/kb/reload", json={"seed": "yes"}, headers={"X-CSRF-Token": csrf})
    assert bad.status == 400


async def test_supervisors_see_what_the_assistant_could_not_answer(client: TestClient, visitor: Visitor) -> None:
    for text in ("阿巴阿巴我的13912345678", "阿巴阿巴我的13912345678", "呜啦啦"):
        await visitor.say(text)
    await add_staff(client, "chief", role="supervisor", windows=())
    await logged_in(client, "chief")
    gaps = (await (await client.get("/api/v1/agent/kb/gaps")).json())["gaps"]
    assert gaps[0]["count"] == 2 and gaps[0]["kind"] == "chat"
    assert "139****5678" in gaps[0]["example"] and "13912345678" not in str(gaps)  # masked when recorded
    assert (await client.get("/api/v1/agent/kb/gaps", params={"kind": "x"})).status == 400


async def test_visitors_asking_the_same_new_question_at_once_are_all_counted(client: TestClient) -> None:
    visitors = [await new_visitor(client) for _ in range(6)]
    await asyncio.gather(*(v.say("阿巴阿巴 嘟嘟") for v in visitors))  # a new gap, recorded by six turns at once
    await add_staff(client, "chief", role="supervisor", windows=())
    await logged_in(client, "chief")
    gaps = (await (await client.get("/api/v1/agent/kb/gaps")).json())["gaps"]
    assert [(g["count"], g["kind"]) for g in gaps] == [(6, "chat")], gaps
    assert gaps[0]["first_seen"] <= gaps[0]["last_seen"]
