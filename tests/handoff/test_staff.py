"""Staff accounts, login, CSRF, login rate limits and the audit trail, driven over the real HTTP API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlmodel import select

from bot.api_staff import COOKIE, current_staff, require_role
from bot.app import create_app
from bot.typedefs import DB, REDIS, STAFF
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.keys import Prefix, key
from core.settings import Settings
from handoff.staff import StaffAccount, StaffAudit, StaffMember, StaffService
from handoff.windows import ALL_WINDOWS

PASSWORD = "correct horse battery"
LOGIN = "/api/v1/agent/login"


async def add_staff(
    client: TestClient,
    username: str = "alice",
    role: str = "agent",
    windows: tuple[str, ...] = ("公积金",),
    password: str = PASSWORD,
) -> StaffMember:
    """Create an account through the service the app uses."""
    return await client.app[STAFF].add(username, password, role=role, windows=windows, display_name=f"{username} 同志")


async def login(client: TestClient, username: str = "alice", password: str = PASSWORD) -> Any:
    """POST the login form; return the response (body not read yet)."""
    return await client.post(LOGIN, json={"username": username, "password": password})


async def logged_in(client: TestClient, username: str = "alice") -> str:
    """Log in and return the CSRF token."""
    resp = await login(client, username)
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["csrf_token"])


def use_cookie(client: TestClient, token: str) -> None:
    """Make the client's browser hold this session cookie, and no other."""
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({COOKIE: token}, response_url=client.make_url("/"))


async def error_code(resp: Any) -> str:
    body = await resp.json()
    assert body["error"]["message"]
    return str(body["error"]["code"])


async def audit_rows(client: TestClient) -> list[StaffAudit]:
    async with client.app[DB]() as db:
        return list((await db.exec(select(StaffAudit).order_by(StaffAudit.id))).all())  # type: ignore[arg-type]


# --- login, me, logout ---------------------------------------------------------------------------------------


async def test_login_me_and_logout(client: TestClient) -> None:
    member = await add_staff(client)
    resp = await login(client)
    assert resp.status == 200
    body = await resp.json()
    assert body["staff"] == {
        "id": member.id,
        "username": "alice",
        "display_name": "alice 同志",
        "role": "agent",
        "windows": ["公积金"],
    }
    csrf = body["csrf_token"]
    assert len(csrf) >= 32

    me = await client.get("/api/v1/agent/me")
    assert me.status == 200
    assert await me.json() == {"staff": body["staff"], "csrf_token": csrf}

    out = await client.post("/api/v1/agent/logout", headers={"X-CSRF-Token": csrf})
    assert out.status == 204
    assert not await client.app[REDIS].keys("yc:staff:session:*")
    after = await client.get("/api/v1/agent/me")
    assert after.status == 401 and await error_code(after) == "login_required"


async def test_session_cookie_is_httponly_strict_and_kept_in_redis_by_hash(client: TestClient) -> None:
    await add_staff(client)
    resp = await login(client)
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["secure"], "cookie_secure is off by default (plain HTTP on a fresh machine)"
    assert int(cookie["max-age"]) == 10 * 3600
    token = cookie.value
    assert len(token) >= 43  # 32 random bytes, base64url
    keys = await client.app[REDIS].keys("yc:staff:session:*")
    assert len(keys) == 1 and token not in keys[0]
    assert 0 < await client.app[REDIS].ttl(keys[0]) <= 10 * 3600


async def test_cookie_is_secure_when_configured(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(
        create_app(settings.model_copy(update={"cookie_secure": True, "staff_session_hours": 2}))
    )
    await add_staff(client)
    resp = await login(client)
    assert resp.status == 200
    assert resp.cookies[COOKIE]["secure"] is True
    assert "Secure" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]
    assert int(resp.cookies[COOKIE]["max-age"]) == 2 * 3600


async def test_wrong_password_and_unknown_user_look_the_same(client: TestClient) -> None:
    await add_staff(client)
    wrong = await login(client, "alice", "not the password")
    unknown = await login(client, "mallory", "not the password")
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()
    assert (await wrong.json())["error"]["code"] == "invalid_credentials"
    assert COOKIE not in wrong.cookies and COOKIE not in unknown.cookies


async def test_username_is_case_and_space_insensitive(client: TestClient) -> None:
    await add_staff(client)
    resp = await login(client, "  Alice ")
    assert resp.status == 200


async def test_login_needs_a_json_body(client: TestClient) -> None:
    await add_staff(client)
    form = await client.post(LOGIN, data={"username": "alice", "password": PASSWORD})
    assert form.status == 400 and await error_code(form) == "json_required"
    missing = await client.post(LOGIN, json={"username": "alice"})
    assert missing.status == 400 and await error_code(missing) == "missing_field"


async def test_a_new_login_ends_the_previous_session_of_this_browser(client: TestClient) -> None:
    await add_staff(client)
    first = await login(client)
    old_token = first.cookies[COOKIE].value
    await logged_in(client)
    assert len(await client.app[REDIS].keys("yc:staff:session:*")) == 1
    use_cookie(client, old_token)
    resp = await client.get("/api/v1/agent/me")
    assert resp.status == 401


async def test_unknown_or_missing_cookie_is_401(client: TestClient) -> None:
    assert (await client.get("/api/v1/agent/me")).status == 401
    use_cookie(client, "made-up-token")
    resp = await client.get("/api/v1/agent/me")
    assert resp.status == 401 and await error_code(resp) == "login_required"


async def test_logout_without_a_session_just_clears_the_cookie(client: TestClient) -> None:
    resp = await client.post("/api/v1/agent/logout")
    assert resp.status == 204
    assert resp.cookies[COOKIE].value == ""


# --- rate limits ---------------------------------------------------------------------------------------------


async def test_sixth_failed_login_is_refused_even_with_the_right_password(client: TestClient) -> None:
    await add_staff(client)
    await add_staff(client, "bob")
    for _ in range(5):
        resp = await login(client, "alice", "wrong password!")
        assert resp.status == 401
    sixth = await login(client, "alice", "wrong password!")
    assert sixth.status == 429 and await error_code(sixth) == "rate_limited"
    assert 0 < int(sixth.headers["Retry-After"]) <= 15 * 60
    assert "登录失败次数过多" in (await sixth.json())["error"]["message"]
    right = await login(client, "alice", PASSWORD)
    assert right.status == 429 and "Retry-After" in right.headers
    assert COOKIE not in right.cookies
    other = await login(client, "bob", PASSWORD)
    assert other.status == 200, "the limit is per username; bob is not locked out by alice's attempts"


async def test_a_successful_login_resets_the_username_count(client: TestClient) -> None:
    await add_staff(client)
    for _ in range(4):
        assert (await login(client, "alice", "wrong password!")).status == 401
    assert (await login(client)).status == 200
    for _ in range(5):
        assert (await login(client, "alice", "wrong password!")).status == 401
    assert (await login(client, "alice", "wrong password!")).status == 429


async def test_thirty_failed_logins_from_one_address_block_that_address(client: TestClient) -> None:
    await add_staff(client)
    for i in range(30):  # spread over usernames, so the per-username limit never triggers
        resp = await login(client, f"guess{i // 5}", "wrong password!")
        assert resp.status == 401, i
    blocked = await login(client, "alice", PASSWORD)
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0


async def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"trust_forwarded_for": True})))
    await add_staff(client)
    await client.app[REDIS].set(key(Prefix.RATE, "login-ip", "203.0.113.7"), 30, ex=900)  # that address used its budget
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}  # the client's own entry comes first: ignored
    blocked = await client.post(LOGIN, json={"username": "alice", "password": PASSWORD}, headers=spoofed)
    assert blocked.status == 429
    other = {"X-Forwarded-For": "203.0.113.7, 198.51.100.2"}
    assert (await client.post(LOGIN, json={"username": "alice", "password": PASSWORD}, headers=other)).status == 200
    assert [r.ip for r in await audit_rows(client)] == ["203.0.113.7", "198.51.100.2"]


async def test_forwarded_for_is_ignored_unless_trusted(client: TestClient) -> None:
    await add_staff(client)
    resp = await client.post(
        LOGIN, json={"username": "alice", "password": PASSWORD}, headers={"X-Forwarded-For": "203.0.113.7"}
    )
    assert resp.status == 200
    assert [r.ip for r in await audit_rows(client)] == ["127.0.0.1"]


# --- CSRF and disabled accounts ------------------------------------------------------------------------------


async def test_writes_need_the_csrf_token_and_reads_do_not(client: TestClient) -> None:
    await add_staff(client)
    csrf = await logged_in(client)
    missing = await client.post("/api/v1/agent/logout")
    assert missing.status == 403 and await error_code(missing) == "csrf_failed"
    wrong = await client.post("/api/v1/agent/logout", headers={"X-CSRF-Token": csrf[:-1] + "x"})
    assert wrong.status == 403 and await error_code(wrong) == "csrf_failed"
    non_ascii = await client.post("/api/v1/agent/logout", headers={"X-CSRF-Token": "令牌"})
    assert non_ascii.status == 403
    assert (await client.get("/api/v1/agent/me")).status == 200, "refused writes leave the session alive"
    assert (await client.post("/api/v1/agent/logout", headers={"X-CSRF-Token": csrf})).status == 204


async def test_disabled_account_session_stops_working_at_once(client: TestClient) -> None:
    await add_staff(client)
    await logged_in(client)
    assert (await client.get("/api/v1/agent/me")).status == 200
    await client.app[STAFF].disable("alice")
    resp = await client.get("/api/v1/agent/me")
    assert resp.status == 401 and await error_code(resp) == "account_disabled"
    assert not await client.app[REDIS].keys("yc:staff:session:*")
    again = await login(client)
    assert again.status == 401 and await error_code(again) == "invalid_credentials"


async def test_role_change_and_windows_are_read_fresh_on_each_request(client: TestClient) -> None:
    await add_staff(client)
    await logged_in(client)
    async with client.app[DB]() as db:
        account = (await db.exec(select(StaffAccount).where(StaffAccount.username == "alice"))).one()
        account.windows = ["公积金", "出入境"]
        db.add(account)
        await db.commit()
    body = await (await client.get("/api/v1/agent/me")).json()
    assert body["staff"]["windows"] == ["公积金", "出入境"]


# --- audit ---------------------------------------------------------------------------------------------------


async def test_logins_and_failed_logins_are_audited_without_the_password(client: TestClient) -> None:
    member = await add_staff(client)
    await login(client, "alice", "my-secret-guess-123")
    await login(client, "nobody", "another-secret-456")
    csrf = await logged_in(client)
    await client.post("/api/v1/agent/logout", headers={"X-CSRF-Token": csrf})
    rows = await audit_rows(client)
    assert [(r.action, r.username, r.staff_id, r.status) for r in rows] == [
        ("POST /api/v1/agent/login", "alice", None, 401),
        ("POST /api/v1/agent/login", "nobody", None, 401),
        ("POST /api/v1/agent/login", "alice", member.id, 200),
        ("POST /api/v1/agent/logout", "alice", member.id, 204),
    ]
    assert rows[0].detail == {"reason": "invalid_credentials"}
    assert all(r.ip == "127.0.0.1" for r in rows)
    dumped = json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False)
    for secret in ("my-secret-guess-123", "another-secret-456", PASSWORD):
        assert secret not in dumped
    values = [
        await client.app[REDIS].get(k)
        for k in await client.app[REDIS].keys("*")
        if await client.app[REDIS].type(k) == "string"
    ]
    assert not any(secret in str(v) for v in values for secret in ("my-secret-guess-123", PASSWORD))


async def test_refused_requests_are_audited_with_their_status(client: TestClient) -> None:
    await add_staff(client)
    await logged_in(client)
    await client.post("/api/v1/agent/logout")  # no CSRF token
    for _ in range(6):
        await login(client, "alice", "wrong password!")
    statuses = [(r.action, r.status) for r in await audit_rows(client)]
    assert statuses[1] == ("POST /api/v1/agent/logout", 403)
    assert statuses[-1] == ("POST /api/v1/agent/login", 429)


async def test_audit_trail_is_for_supervisors_only(client: TestClient) -> None:
    await add_staff(client)
    await add_staff(client, "sup", role="supervisor", windows=())
    await login(client, "alice", "wrong password!")
    await logged_in(client, "alice")
    refused = await client.get("/api/v1/agent/audit")
    assert refused.status == 403 and await error_code(refused) == "forbidden"
    await logged_in(client, "sup")
    resp = await client.get("/api/v1/agent/audit?limit=2")
    assert resp.status == 200
    entries = (await resp.json())["entries"]
    assert [(e["username"], e["status"]) for e in entries] == [("sup", 200), ("alice", 200)]
    assert entries[0]["action"] == "POST /api/v1/agent/login" and entries[0]["ip"] == "127.0.0.1"
    bad = await client.get("/api/v1/agent/audit?limit=0")
    assert bad.status == 400


async def test_audit_rows_cannot_be_changed_through_the_orm(client: TestClient) -> None:
    await login(client, "nobody", "wrong password!")
    async with client.app[DB]() as db:
        row = (await db.exec(select(StaffAudit))).one()
        row.status = 200
        db.add(row)
        with pytest.raises(RuntimeError, match="append-only"):
            await db.commit()


# --- accounts and passwords ----------------------------------------------------------------------------------


async def test_password_is_stored_as_an_argon2id_hash(client: TestClient) -> None:
    await add_staff(client)
    async with client.app[DB]() as db:
        account = (await db.exec(select(StaffAccount))).one()
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash


async def test_an_old_weaker_hash_is_upgraded_at_login(client: TestClient) -> None:
    await add_staff(client)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with client.app[DB]() as db:
        account = (await db.exec(select(StaffAccount))).one()
        account.password_hash = weak
        db.add(account)
        await db.commit()
    assert (await login(client)).status == 200
    async with client.app[DB]() as db:
        upgraded = (await db.exec(select(StaffAccount))).one().password_hash
    assert upgraded != weak and not PasswordHasher().check_needs_rehash(upgraded)
    assert "m=65536" in upgraded


async def test_set_password_replaces_the_old_one(client: TestClient) -> None:
    await add_staff(client)
    await client.app[STAFF].set_password("alice", "a brand new password")
    assert (await login(client, "alice", PASSWORD)).status == 401
    assert (await login(client, "alice", "a brand new password")).status == 200


@pytest.mark.parametrize(
    ("username", "password", "role", "windows", "code"),
    [
        ("al", PASSWORD, "agent", ("公积金",), "invalid_username"),
        ("alice smith", PASSWORD, "agent", ("公积金",), "invalid_username"),
        ("张三", PASSWORD, "agent", ("公积金",), "invalid_username"),
        ("alice", PASSWORD, "boss", ("公积金",), "invalid_role"),
        ("alice", PASSWORD, "agent", ("不存在的窗口",), "invalid_window"),
        ("alice", PASSWORD, "agent", (), "invalid_window"),
        ("alice", "short", "agent", ("公积金",), "weak_password"),
    ],
)
async def test_bad_accounts_are_refused(
    client: TestClient, username: str, password: str, role: str, windows: tuple[str, ...], code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await client.app[STAFF].add(username, password, role=role, windows=windows)
    assert caught.value.code == code
    assert await client.app[STAFF].list() == []


async def test_username_is_unique(client: TestClient) -> None:
    await add_staff(client)
    with pytest.raises(Conflict):
        await add_staff(client, "ALICE")


async def test_unknown_username_for_passwd_or_disable(client: TestClient) -> None:
    service: StaffService = client.app[STAFF]
    with pytest.raises(NotFound):
        await service.disable("ghost")
    with pytest.raises(NotFound):
        await service.set_password("ghost", PASSWORD)


def test_agents_see_their_windows_and_supervisors_see_all() -> None:
    agent = StaffMember(1, "alice", "Alice", "agent", ("公积金",))
    supervisor = StaffMember(2, "sup", "Sup", "supervisor", ())
    admin = StaffMember(3, "root", "Root", "admin", ())
    assert agent.can_see_window("公积金") and not agent.can_see_window("出入境")
    assert all(supervisor.can_see_window(w) and admin.can_see_window(w) for w in ALL_WINDOWS)
    assert not agent.is_supervisor and supervisor.is_supervisor and admin.is_supervisor
    require_role(supervisor, "supervisor", "admin")
    with pytest.raises(Forbidden):
        require_role(agent, "supervisor", "admin")


def test_all_windows_adds_the_policy_and_complaint_windows() -> None:
    assert ALL_WINDOWS[-2:] == ("惠企政策", "办不成事反映")
    assert "公积金" in ALL_WINDOWS and len(set(ALL_WINDOWS)) == len(ALL_WINDOWS)


async def test_current_staff_is_usable_by_other_routes(client: TestClient) -> None:
    """A route of another module authenticates with current_staff (cached per request)."""
    from aiohttp.test_utils import make_mocked_request

    member = await add_staff(client)
    csrf = await logged_in(client)
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    request = make_mocked_request(
        "POST", "/api/v1/agent/tickets", app=client.app, headers={"Cookie": f"{COOKIE}={token}", "X-CSRF-Token": csrf}
    )
    assert await current_staff(request) == member
    forged = make_mocked_request(
        "POST", "/api/v1/agent/tickets", app=client.app, headers={"Cookie": f"{COOKIE}={token}"}
    )
    with pytest.raises(Forbidden):
        await current_staff(forged)
