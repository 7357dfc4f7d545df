"""Staff login for the agent API: cookie sessions in Redis, CSRF tokens, login rate limits and the audit trail.

A login sets the cookie `yc_staff` (HttpOnly, SameSite=Strict) holding a random token; Redis keeps
`{staff_id, csrf}` under the SHA-256 of that token for `staff_session_hours`. Every state-changing request
must repeat the CSRF token in the `X-CSRF-Token` header, and a browser's `Origin` (sent with every such
request) must name this host. The account is read from SQL on every request, so disabling it (or changing its
role or windows) takes effect at once.

Routes under `/api/v1/agent/` call `current_staff(request)` and, where needed, `require_role(...)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.http import Handler, client_address, json_response, parse_uint, read_json_object, require_str
from bot.typedefs import RATE_LIMITER, REDIS, SETTINGS, STAFF
from core import jsoncodec
from core.errors import Forbidden, InvalidInput, Unauthorized
from core.keys import Prefix, key
from handoff.staff import MAX_PASSWORD_CHARS, StaffAudit, StaffMember, normalise_username

log = logging.getLogger("bot.api_staff")

COOKIE = "yc_staff"
CSRF_HEADER = "X-CSRF-Token"
AGENT_PREFIX = "/api/v1/agent/"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_WINDOW_SECONDS = 15 * 60
LOGIN_LIMIT_PER_USER = 5  # failed logins per username and window
LOGIN_LIMIT_PER_IP = 30  # failed logins per client address and window
LOGIN_LIMITED = "登录失败次数过多"
AUDIT_MAX_LIMIT = 500

routes = web.RouteTableDef()


@dataclass(frozen=True)
class _Session:
    token: str
    staff_id: int
    csrf: str


@dataclass
class _AuditNote:
    """What a handler adds to the audit row of its request (the middleware writes the row)."""

    username: str = ""
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


_STAFF = web.RequestKey("staff_member", StaffMember)
_SESSION = web.RequestKey("staff_session", _Session)
_AUDIT = web.RequestKey("staff_audit_note", _AuditNote)


def _session_key(token: str) -> str:
    # Redis holds a hash of the token, so a copy of Redis does not hand out live sessions.
    return key(Prefix.STAFF_SESSION, hashlib.sha256(token.encode()).hexdigest())



async def _load_session(request: web.Request) -> _Session | None:
    token = request.cookies.get(COOKIE, "")
    if not token or len(token) > 128:
        return None
    raw = await request.app[REDIS].get(_session_key(token))
    if raw is None:
        return None
    try:
        data = jsoncodec.loads(raw)
        return _Session(token=token, staff_id=int(data["staff_id"]), csrf=str(data["csrf"]))
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable staff session in Redis; ignored")
        return None


async def _authenticated(request: web.Request) -> tuple[StaffMember, _Session]:
    staff, session = request.get(_STAFF), request.get(_SESSION)
    if staff is not None and session is not None:
        return staff, session
    session = await _load_session(request)
    if session is None:
        raise Unauthorized("请先登录。", code="login_required")
    staff = await request.app[STAFF].get(session.staff_id)
    if staff is None:
        await request.app[REDIS].delete(_session_key(session.token))
        raise Unauthorized("账号已停用，请联系管理员。", code="account_disabled")
    request[_STAFF], request[_SESSION] = staff, session
    return staff, session


def _check_origin(request: web.Request) -> None:
    """Forbidden (`csrf_failed`) when a browser says the request comes from a page of another host.

    Browsers send `Origin` with every POST; a client that sends none (curl, the CLI) is judged by the CSRF
    token alone. Host names are compared, not ports: the sample nginx passes `Host` without the port.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return
    try:
        origin_host = urlsplit(origin).hostname or ""
    except ValueError:  # "http://[" and the like
        origin_host = ""
    own_host = urlsplit(f"//{request.host}").hostname or ""
    if not origin_host or origin_host.lower() != own_host.lower():
        raise Forbidden("安全校验失败：请求来自其他网站。", code="csrf_failed")


async def current_staff(request: web.Request) -> StaffMember:
    """The logged-in staff member of this request.

    Unauthorized (401) without a live session or when the account has been disabled; Forbidden (403,
    code `csrf_failed`) when a POST, PUT, PATCH or DELETE lacks the session's `X-CSRF-Token` header or
    a browser sent it from a page of another host.
    """
    staff, session = await _authenticated(request)
    if request.method in UNSAFE_METHODS:
        _check_origin(request)
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(errors="replace"), session.csrf.encode()):
            raise Forbidden("安全校验失败，请刷新页面后重试。", code="csrf_failed")
    return staff


def require_role(staff: StaffMember, *roles: str) -> None:
    """Raise Forbidden unless `staff` has one of `roles`."""
    if staff.role not in roles:
        raise Forbidden("您没有权限执行此操作。")


def audit_note(request: web.Request, *, target: str | None = None, **detail: Any) -> None:
    """Add a target and details to this request's audit row (never a password or a citizen's personal data)."""
    note = request.get(_AUDIT)
    if note is None:  # a GET: not audited
        return
    if target is not None:
        note.target = target
    note.detail.update(detail)


def _staff_response(staff: StaffMember, session: _Session) -> web.Response:
    return json_response({"staff": staff.to_json(), "csrf_token": session.csrf})


@routes.post("/api/v1/agent/login")
async def login(request: web.Request) -> web.Response:
    """Check a username and password; on success start a session (cookie) and return the CSRF token."""
    if request.content_type != "application/json":  # a cross-site form cannot send JSON without CORS
        raise InvalidInput("请以 JSON 提交（Content-Type: application/json）。", code="json_required")
    _check_origin(request)  # nor may another site log this browser into an account of its choosing
    body = await read_json_object(request)
    username = normalise_username(require_str(body, "username", max_chars=64) or "")
    password = require_str(body, "password", max_chars=MAX_PASSWORD_CHARS) or ""
    note = request.get(_AUDIT)
    if note is not None:
        note.username = username
    limiter, ip = request.app[RATE_LIMITER], client_address(request)
    limits = (("login-ip", ip, LOGIN_LIMIT_PER_IP), ("login-user", username, LOGIN_LIMIT_PER_USER))
    for name, subject, limit in limits:  # before the password check: a limited caller learns nothing
        await limiter.check(name, subject, limit, LOGIN_WINDOW_SECONDS, message=LOGIN_LIMITED)
    staff = await request.app[STAFF].authenticate(username, password)
    if staff is None:
        audit_note(request, reason="invalid_credentials")
        outcomes = await asyncio.gather(
            *(limiter.hit(n, s, lim, LOGIN_WINDOW_SECONDS, message=LOGIN_LIMITED) for n, s, lim in limits),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        raise Unauthorized("用户名或密码不正确。", code="invalid_credentials")
    await limiter.reset("login-user", username)
    redis, settings = request.app[REDIS], request.app[SETTINGS]
    old = request.cookies.get(COOKIE)
    if old and len(old) <= 128:
        await redis.delete(_session_key(old))
    session = _Session(token=secrets.token_urlsafe(32), staff_id=staff.id, csrf=secrets.token_urlsafe(32))
    ttl = settings.staff_session_hours * 3600
    await redis.set(_session_key(session.token), jsoncodec.dumps({"staff_id": staff.id, "csrf": session.csrf}), ex=ttl)
    request[_STAFF], request[_SESSION] = staff, session
    response = _staff_response(staff, session)
    response.set_cookie(
        COOKIE, session.token, max_age=ttl, path="/", httponly=True, samesite="Strict", secure=settings.cookie_secure
    )
    return response


@routes.post("/api/v1/agent/logout")
async def logout(request: web.Request) -> web.Response:
    """End the session (CSRF token required while it is live) and clear the cookie."""
    try:
        await current_staff(request)
    except Unauthorized:
        pass  # no live session: only the cookie is left to clear
    else:
        await request.app[REDIS].delete(_session_key(request[_SESSION].token))
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=request.app[SETTINGS].cookie_secure)
    return response


@routes.get("/api/v1/agent/me")
async def me(request: web.Request) -> web.Response:
    """Who is logged in, and the CSRF token (for a console page reloaded after login)."""
    staff, session = await _authenticated(request)
    return _staff_response(staff, session)


def _audit_json(row: StaffAudit) -> dict[str, Any]:
    return {
        "id": row.id,
        "staff_id": row.staff_id,
        "username": row.username,
        "action": row.action,
        "target": row.target,
        "status": row.status,
        "ip": row.ip,
        "detail": row.detail,
        "created_at": row.created_at.isoformat(),
    }


@routes.get("/api/v1/agent/audit")
async def audit_log(request: web.Request) -> web.Response:
    """The newest audit rows (supervisors and admins only)."""
    require_role(await current_staff(request), "supervisor", "admin")
    limit = parse_uint(request.query.get("limit", "100"), maximum=AUDIT_MAX_LIMIT)
    if not limit:
        raise InvalidInput(f"参数 limit 必须是 1–{AUDIT_MAX_LIMIT} 的整数。", code="invalid_limit")
    rows = await request.app[STAFF].recent_audit(limit)
    return json_response({"entries": [_audit_json(r) for r in rows]})


def _action(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return f"{request.method} {resource.canonical if resource is not None else request.path}"


async def _record(request: web.Request, note: _AuditNote, status: int) -> None:
    staff = request.get(_STAFF)
    target = note.target
    if target is None and request.match_info:  # a route with parameters: the concrete path names the target
        target = request.path
    try:
        await request.app[STAFF].audit(
            staff_id=staff.id if staff else None,
            username=staff.username if staff else note.username,
            action=_action(request),
            target=target,
            status=status,
            ip=client_address(request),
            detail=note.detail,
        )
    except Exception:  # the response stands; a lost audit row must be loud in the logs
        log.exception("could not write the staff audit row for %s %s (status %s)", request.method, request.path, status)


@web.middleware
async def staff_audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every state-changing request under /api/v1/agent/ with its final status (placed outside the
    error middleware, so refused and failed requests are recorded as they were answered).
    """
    if not request.path.startswith(AGENT_PREFIX) or request.method not in UNSAFE_METHODS:
        return await handler(request)
    note = _AuditNote()
    request[_AUDIT] = note
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and the like pass through the error middleware
        await _record(request, note, exc.status)
        raise
    await _record(request, note, response.status)
    return response
