"""Bad input gets a clear 4xx JSON error and changes nothing."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import select

from bot.models import Turn
from bot.typedefs import DB
from tests.conftest import Visitor
from tests.handoff.test_staff import add_staff, logged_in


async def assert_error(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in body["error"]["message"]
    return body


async def count_turns(client: TestClient) -> int:
    async with client.app[DB]() as db:
        return len((await db.exec(select(Turn))).all())


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_body"),
        (b'{"text": ', "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        # Valid JSON syntax, but half a UTF-16 pair is no character: no column or reply could hold it.
        (b'{"text": "\\ud800"}', "malformed_json"),
        (b'["text"]', "malformed_json"),
        (b"{}", "missing_field"),
        (b'{"text": 42}', "invalid_field"),
        (b'{"text": "hi", "msg_id": "has spaces"}', "invalid_field"),
    ],
)
async def test_malformed_messages_are_refused(client: TestClient, visitor: Visitor, raw: bytes, code: str) -> None:
    resp = await client.post("/api/v1/messages", data=raw,
                             headers={**visitor.headers, "Content-Type": "application/json"})
    await assert_error(resp, 400, code)
    assert await count_turns(client) == 0


async def test_text_over_2000_characters_is_refused(client: TestClient, visitor: Visitor) -> None:
    resp = await client.post("/api/v1/messages", json={"text": "办" * 2001}, headers=visitor.headers)
    body = await assert_error(resp, 413, "field_too_long")
    assert "2000" in body["error"]["message"]
    assert await count_turns(client) == 0


async def test_body_over_64_kib_is_refused(client: TestClient, visitor: Visitor) -> None:
    resp = await client.post("/api/v1/messages", data=b'{"text": "' + b"a" * 70_000 + b'"}',
                             headers={**visitor.headers, "Content-Type": "application/json"})
    await assert_error(resp, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("Bearer ", "missing_token"),
        ("Basic dXNlcjpwYXNz", "missing_token"),
        ("Bearer not-a-token", "invalid_token"),
        ("Bearer eyJ1Ijoid2ViOm1lIiwiZSI6OTk5OTk5OTk5OX0.forged", "invalid_token"),
    ],
)
async def test_bad_tokens_are_refused(client: TestClient, header: str | None, code: str) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = await client.post("/api/v1/messages", json={"text": "你好"}, headers=headers)
    await assert_error(resp, 401, code)
    assert await count_turns(client) == 0


async def test_a_token_cannot_be_altered_to_another_user(client: TestClient, visitor: Visitor) -> None:
    import base64
    import json

    payload, _, signature = visitor.token.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["u"] = "web:victim"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    resp = await client.post("/api/v1/messages", json={"text": "你好"},
                             headers={"Authorization": f"Bearer {forged}.{signature}"})
    await assert_error(resp, 401, "invalid_token")


async def test_bad_cursor_is_refused(client: TestClient, visitor: Visitor) -> None:
    resp = await client.get("/api/v1/messages?after=-1", headers=visitor.headers)
    await assert_error(resp, 400, "invalid_cursor")


async def test_unknown_route_and_wrong_method_answer_json(client: TestClient) -> None:
    await assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")
    await assert_error(await client.delete("/api/v1/sessions"), 405, "method_not_allowed")


async def test_router_errors_are_explained_in_chinese(client: TestClient) -> None:
    """Regression (schemathesis): aiohttp's own 404/405 said "Not Found" / "Method Not Allowed" in English."""
    missing = await assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")
    assert missing["error"]["message"] == "没有找到该地址，请检查链接是否正确。"
    wrong = await client.put("/", data=b"")
    body = await assert_error(wrong, 405, "method_not_allowed")
    assert body["error"]["message"] == "该地址不支持此请求方法。"
    assert "GET" in wrong.headers["Allow"]


async def test_empty_text_gets_a_polite_reply(visitor: Visitor) -> None:
    body = await visitor.say("   ")
    assert "没有输入内容" in body["replies"][0]["text"]


# Regressions found by schemathesis (tests/reliability/test_schema.py): numbers in URLs that str.isdigit()
# accepted but int() or the database refused answered 500.
TOO_BIG = str(2**31)  # one past the largest SQL INTEGER: PostgreSQL refused the query argument, SQLite overflowed
NOT_ASCII = "²"  # isdigit() is True, int() raises


@pytest.mark.parametrize("raw", [TOO_BIG, "3047207913967776169984", NOT_ASCII])
async def test_odd_numbers_in_the_chat_api_are_refused(client: TestClient, visitor: Visitor, raw: str) -> None:
    body = await assert_error(await client.get("/api/v1/messages", params={"after": raw}, headers=visitor.headers),
                              400, "invalid_cursor")
    assert "2147483647" in body["error"]["message"]
    resp = await client.get("/api/v1/kb/items", params={"limit": raw})
    await assert_error(resp, 400, "invalid_parameter")
    resp = await client.get("/api/v1/calendar/due", params={"start": "2026-11-23", "days": raw})
    await assert_error(resp, 400, "invalid_parameter")


async def test_an_odd_last_event_id_falls_back_to_the_cursor(client: TestClient, visitor: Visitor) -> None:
    resp = await client.get("/api/v1/events", params={"after": NOT_ASCII},
                            headers={**visitor.headers, "Last-Event-ID": NOT_ASCII})
    await assert_error(resp, 400, "invalid_cursor")


@pytest.mark.parametrize("raw", [TOO_BIG, "3047207913967776169984", NOT_ASCII])
async def test_odd_numbers_in_the_agent_api_are_refused(client: TestClient, raw: str) -> None:
    await add_staff(client, "chief", role="admin", windows=())
    headers = {"X-CSRF-Token": await logged_in(client, "chief")}
    resp = await client.post(f"/api/v1/agent/evaluations/{raw}/follow-up", json={"note": "已回访"}, headers=headers)
    body = await assert_error(resp, 404, "not_found")
    assert body["error"]["message"] == "没有这条待回访的评价。"
    for path in (f"/api/v1/agent/tickets/{raw}", f"/api/v1/agent/tickets/{raw}/claim"):
        resp = await (client.get(path) if path.endswith(raw) else client.post(path, headers=headers))
        body = await assert_error(resp, 404, "not_found")
        assert body["error"]["message"] == "没有找到这个工单。"
    await assert_error(await client.get("/api/v1/agent/audit", params={"limit": raw}), 400, "invalid_limit")
    await assert_error(await client.get("/api/v1/agent/kb/gaps", params={"limit": raw}), 400, "invalid_query")
