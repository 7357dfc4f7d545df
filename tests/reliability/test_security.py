"""Security points of issue 9 that no other test covers: forged visitor tokens and staff cookies, CSRF from
another origin or with another session's token, case lookup that cannot enumerate, and the per-address chat
limit. (Covered elsewhere: missing/garbled/altered/expired tokens in tests/channels/test_bad_input.py and
test_web_api.py; made-up cookies, missing or wrong CSRF tokens and login limits in tests/handoff/test_staff.py;
same 404 for wrong phone and unknown number, per-case lookup limit in tests/handoff/test_case_api.py; per-user
chat limit in test_web_api.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.api_cases import LOOKUP_LIMIT_PER_IP
from bot.api_staff import COOKIE
from bot.app import create_app
from bot.typedefs import REDIS, TOKENS
from core.settings import Settings
from core.tokens import TokenSigner
from tests.conftest import Visitor, new_visitor
from tests.handoff.test_case_api import FORM, file_form
from tests.handoff.test_staff import add_staff, logged_in, login, use_cookie


async def error_of(resp: Any, status: int) -> dict[str, str]:
    """The JSON error of a response that must have `status`; its message must say something."""
    body = await resp.json()
    assert resp.status == status, body
    assert body["error"]["message"]
    return dict(body["error"])


def _claims(token: str) -> dict[str, Any]:
    payload = token.partition(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _payload(claims: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()


# --- visitor tokens ------------------------------------------------------------------------------------------


def _forgeries(real: str, other: str) -> dict[str, str]:
    payload, _, signature = real.partition(".")
    later = {**_claims(real), "e": _claims(real)["e"] + 10 * 365 * 86400}
    return {
        "signed with another secret": TokenSigner("another-secret-" + "y" * 40, 3600).issue(_claims(real)["u"])[0],
        "expiry pushed back, old signature": f"{_payload(later)}.{signature}",
        "signature removed": f"{payload}.",
        "another visitor's signature": f"{payload}.{other.partition('.')[2]}",
    }


@pytest.mark.parametrize("kind", ["signed with another secret", "expiry pushed back, old signature",
                                  "signature removed", "another visitor's signature"])
async def test_forged_visitor_tokens_are_refused_everywhere(client: TestClient, visitor: Visitor, kind: str) -> None:
    other = await new_visitor(client)
    forged = _forgeries(visitor.token, other.token)[kind]
    auth = {"Authorization": f"Bearer {forged}"}
    sent = await client.post("/api/v1/messages", json={"text": "你好"}, headers=auth)
    assert (await error_of(sent, 401))["code"] == "invalid_token"
    read = await client.get("/api/v1/messages", headers=auth)
    assert (await error_of(read, 401))["code"] == "invalid_token"
    stream = await client.get("/api/v1/events", params={"token": forged})
    assert (await error_of(stream, 401))["code"] == "invalid_token"
    filed = await client.post("/api/v1/cases", json=FORM, headers=auth)  # the form must not act for that user
    assert (await error_of(filed, 401))["code"] == "invalid_token"


async def test_the_real_token_still_works(client: TestClient, visitor: Visitor) -> None:
    """The forgeries above fail for being forged: the same requests with the real token succeed."""
    assert client.app[TOKENS].verify(visitor.token) == visitor.user_id
    assert (await visitor.say("你好"))["replies"]


# --- staff session cookies -----------------------------------------------------------------------------------


async def test_forged_staff_cookies_are_refused(client: TestClient) -> None:
    await add_staff(client)
    await logged_in(client)
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    stored_as = hashlib.sha256(token.encode()).hexdigest()
    assert await client.app[REDIS].exists(f"yc:staff:session:{stored_as}")
    for forged, why in [(stored_as, "the Redis key: a copy of Redis hands out no session"),
                        (token[:-1] + ("A" if token[-1] != "A" else "B"), "one character changed"),
                        (token + "x" * 200, "over-long")]:
        use_cookie(client, forged)
        resp = await client.get("/api/v1/agent/me")
        assert (await error_of(resp, 401))["code"] == "login_required", why
    use_cookie(client, token)
    assert (await client.get("/api/v1/agent/me")).status == 200  # the session itself is untouched


# --- CSRF ----------------------------------------------------------------------------------------------------


async def test_another_sessions_csrf_token_is_refused(client: TestClient) -> None:
    await add_staff(client, "alice")
    await add_staff(client, "bob")
    bobs_csrf = await logged_in(client, "bob")
    await logged_in(client, "alice")  # this browser now holds alice's cookie
    resp = await client.post("/api/v1/agent/presence", headers={"X-CSRF-Token": bobs_csrf})
    assert (await error_of(resp, 403))["code"] == "csrf_failed"


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1.evil.example", "http://["])
async def test_a_write_from_another_origin_is_refused_even_with_the_token(client: TestClient, origin: str) -> None:
    await add_staff(client)
    csrf = await logged_in(client)
    resp = await client.post("/api/v1/agent/logout", headers={"X-CSRF-Token": csrf, "Origin": origin})
    assert (await error_of(resp, 403))["code"] == "csrf_failed"
    assert (await client.get("/api/v1/agent/me")).status == 200, "the refused logout ended nothing"
    own = str(client.make_url("/")).rstrip("/")
    same = await client.post("/api/v1/agent/logout", headers={"X-CSRF-Token": csrf, "Origin": own})
    assert same.status == 204


async def test_another_site_cannot_log_a_browser_in(client: TestClient) -> None:
    await add_staff(client)
    resp = await client.post("/api/v1/agent/login", json={"username": "alice", "password": "correct horse battery"},
                             headers={"Origin": "https://evil.example"})
    assert (await error_of(resp, 403))["code"] == "csrf_failed"
    assert COOKIE not in resp.cookies
    assert (await login(client)).status == 200  # without a foreign Origin the same login works


# --- case lookup -----------------------------------------------------------------------------------------------


async def test_guessing_case_numbers_from_one_address_is_cut_off(client: TestClient) -> None:
    """Each guess is a different number (so the per-case limit never trips): the per-address limit does, and
    after it even the right number with the right phone learns nothing."""
    case_no = (await (await file_form(client)).json())["case_no"]
    day = case_no[3:11]
    unknown = await client.get(f"/api/v1/cases/BBC{day}-9999", params={"phone": FORM["phone"]})
    malformed = await client.get("/api/v1/cases/not-a-number", params={"phone": FORM["phone"]})
    assert unknown.status == malformed.status == 404
    assert await unknown.json() == await malformed.json()  # the format gives nothing away either
    statuses = [(await client.get(f"/api/v1/cases/BBC{day}-{n:04d}", params={"phone": "13800000000"})).status
                for n in range(100, 100 + LOOKUP_LIMIT_PER_IP)]
    assert statuses == [404] * (LOOKUP_LIMIT_PER_IP - 2) + [429] * 2  # the two probes above counted too
    right = await client.get(f"/api/v1/cases/{case_no}", params={"phone": FORM["phone"]})
    error = await error_of(right, 429)
    assert error["code"] == "rate_limited" and "查询次数过多" in error["message"]
    assert 0 < int(right.headers["Retry-After"]) <= 600


# --- chat rate limit per address -----------------------------------------------------------------------------


async def test_many_visitors_from_one_address_share_its_limit(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"messages_per_ip_minute": 3})))
    visitors = [await new_visitor(client) for _ in range(4)]  # fresh tokens: the per-user limit never trips
    statuses = []
    for visitor in visitors:
        resp = await client.post("/api/v1/messages", json={"text": "你好"}, headers=visitor.headers)
        statuses.append(resp.status)
    assert statuses == [200, 200, 200, 429]
    error = await error_of(resp, 429)
    assert error["code"] == "rate_limited" and "太频繁" in error["message"]
    assert 0 < int(resp.headers["Retry-After"]) <= 60


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limits(aiohttp_client: Any,
                                                                              settings: Settings) -> None:
    """Behind nginx every request comes from the proxy's address: counted by it, the whole service would share
    one address's message, session, case-lookup and login limits. With YICHUANG_TRUST_FORWARDED_FOR the last
    X-Forwarded-For entry (the one the proxy appended) is counted; an entry the client wrote itself is not.
    """
    limits = {"messages_per_ip_minute": 2, "sessions_per_ip_minute": 3, "trust_forwarded_for": True}
    client = await aiohttp_client(create_app(settings.model_copy(update=limits)))

    async def say(visitor: Visitor, address: str) -> int:
        headers = {**visitor.headers, "X-Forwarded-For": address}
        return (await client.post("/api/v1/messages", json={"text": "你好"}, headers=headers)).status

    visitors = [await new_visitor(client) for _ in range(3)]
    assert [await say(v, "203.0.113.7") for v in visitors] == [200, 200, 429]
    # Another citizen behind the same proxy is not slowed down; writing the blocked address first does not help.
    assert await say(visitors[2], "203.0.113.8") == 200
    assert await say(visitors[2], "203.0.113.7, 203.0.113.8") == 200
    assert await say(visitors[2], "203.0.113.8, 203.0.113.7") == 429
    sessions = [(await client.post("/api/v1/sessions", headers={"X-Forwarded-For": "198.51.100.9"})).status
                for _ in range(4)]
    assert sessions == [201, 201, 201, 429]  # the three visitors above came from the test client's own address


async def test_a_forwarded_address_is_ignored_unless_the_proxy_is_trusted(aiohttp_client: Any,
                                                                         settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"messages_per_ip_minute": 2})))
    statuses = []
    for n in range(3):
        visitor = await new_visitor(client)
        headers = {**visitor.headers, "X-Forwarded-For": f"203.0.113.{n}"}  # a client pretending to be three
        statuses.append((await client.post("/api/v1/messages", json={"text": "你好"}, headers=headers)).status)
    assert statuses == [200, 200, 429]
