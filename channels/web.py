"""Web channel: the JSON chat API of DESIGN §3 (sessions, messages, events) and the chat page at `/`."""

from __future__ import annotations

import contextlib
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.http import (
    MAX_ROW_ID,
    client_address,
    encoded_json_response,
    json_response,
    parse_uint,
    read_json_object,
    require_str,
)
from bot.messages import Inbound
from bot.models import OutboundMessage
from bot.streams import LIVE_STREAMS
from bot.typedefs import DB, ENGINE, OUTBOX, RATE_LIMITER, SETTINGS, TOKENS
from core import jsoncodec
from core.errors import InvalidInput, Unauthorized, YichuangError
from core.pubsub import MissedMessages
from core.ratelimit import Budget
from policy_kb.prechecks import PrecheckStore

CHANNEL = "web"
STATIC_DIR = Path(__file__).parent / "static"
_MSG_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
SSE_WAIT_SECONDS = 15.0

routes = web.RouteTableDef()


def _bearer_user(request: web.Request, *, allow_query: bool = False) -> str:
    """The visitor's user id from `Authorization: Bearer` (or `?token=` where a browser cannot set headers)."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not token and allow_query:
        token = request.query.get("token", "")
    if not token:
        raise Unauthorized("缺少令牌：请先调用 POST /api/v1/sessions，并在 Authorization 头中带上 Bearer 令牌。",
                           code="missing_token")
    return request.app[TOKENS].verify(token)


def _cursor(request: web.Request, name: str = "after") -> int:
    cursor = parse_uint(request.query.get(name, "0"))
    if cursor is None:
        raise InvalidInput(f"参数 {name} 必须是 0–{MAX_ROW_ID} 之间的整数。", code="invalid_cursor")
    return cursor


def _message_json(row: OutboundMessage) -> dict[str, Any]:
    return {"id": row.id, "source": row.source, "created_at": row.created_at.isoformat(), **row.reply}


@routes.post("/api/v1/sessions")
async def create_session(request: web.Request) -> web.Response:
    """Issue an anonymous visitor token. Each new visitor leaves a few short-lived keys in Redis
    (`Engine.welcome`), so an address may open only so many sessions a minute.
    """
    await request.app[RATE_LIMITER].hit("sessions-ip", client_address(request),
                                        request.app[SETTINGS].sessions_per_ip_minute, 60, message="新建会话太频繁了")
    user_id = f"{CHANNEL}:{secrets.token_hex(12)}"
    token, expires = request.app[TOKENS].issue(user_id)
    await request.app[ENGINE].welcome(user_id, CHANNEL)
    return json_response({"token": token, "user_id": user_id, "expires_at": expires}, status=201)


@routes.post("/api/v1/messages")
async def post_message(request: web.Request) -> web.Response:
    """Send one message and get the bot's replies."""
    user_id = _bearer_user(request)
    settings = request.app[SETTINGS]
    budget = Budget([("messages-user", user_id, settings.messages_per_user_minute, 60),
                     ("messages-ip", client_address(request), settings.messages_per_ip_minute, 60)],
                    message="发送太频繁了")
    try:
        inbound = await _inbound(request, user_id, settings.max_text_chars)
    except (YichuangError, web.HTTPException):
        await request.app[RATE_LIMITER].hit_all(budget)  # a bad request counts as a message too
        raise
    # A good one is counted as its turn begins, in the same Redis round trip as the user's lock.
    result = await request.app[ENGINE].handle(inbound, budget)
    return encoded_json_response(result.encoded)


async def _inbound(request: web.Request, user_id: str, max_text_chars: int) -> Inbound:
    """The message in the request body, or InvalidInput/PayloadTooLarge saying what is wrong with it."""
    body = await read_json_object(request)
    text = require_str(body, "text", max_chars=max_text_chars) or ""
    msg_id = require_str(body, "msg_id", max_chars=64, required=False)
    if msg_id is not None and not _MSG_ID.match(msg_id):
        raise InvalidInput("msg_id 只能包含字母、数字和 _ . : -，长度 1–64。", code="invalid_field")
    # The mini-program uses this API too: its tokens carry `mp:<openid>`, so the channel comes from the user id.
    channel = user_id.partition(":")[0] or CHANNEL
    return Inbound(channel=channel, user_id=user_id, text=text, msg_id=msg_id or uuid.uuid4().hex)


@routes.get("/api/v1/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Messages pushed to this user (staff replies, case updates) after a cursor."""
    user_id = _bearer_user(request)
    cursor = _cursor(request)
    rows = await request.app[OUTBOX].after(user_id, cursor)
    next_cursor = rows[-1].id if rows else cursor
    return json_response({"messages": [_message_json(r) for r in rows], "cursor": next_cursor})


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    """The same messages as server-sent events; resumes after `Last-Event-ID` or `?after=`."""
    user_id = _bearer_user(request, allow_query=True)
    last_event = parse_uint(request.headers.get("Last-Event-ID", ""))
    cursor = last_event if last_event is not None else _cursor(request)
    outbox = request.app[OUTBOX]
    streams = request.app[LIVE_STREAMS]
    # Subscribed before reading the backlog, so nothing pushed in between is missed. A client gone while we
    # waited makes the next write fail: that ends the stream quietly (it is no outage). So does a shutdown:
    # the browser reconnects, with Last-Event-ID, to a worker still running.
    async with outbox.notifications(user_id) as inbox, streams.open(request) as stream:
        with contextlib.suppress(ConnectionResetError):
            while stream.is_connected() and not streams.closing:
                for row in await outbox.after(user_id, cursor):
                    await stream.send(jsoncodec.dumps(_message_json(row)), id=str(row.id))
                    cursor = row.id or cursor
                # Woken by a push, or by missed pushes (Redis was away): either way the loop reads SQL again.
                with contextlib.suppress(MissedMessages):
                    await streams.idle(inbox.get(SSE_WAIT_SECONDS))
    return stream


@routes.get("/api/v1/prechecks/{number}")
async def get_precheck(request: web.Request) -> web.Response:
    """A pre-check record (材料预审), for its owner only: anyone else gets the same 404 as an unknown number."""
    user_id = _bearer_user(request)
    record = await PrecheckStore(request.app[DB]).get_for_owner(request.match_info["number"], user_id)
    return json_response(record.to_json())


@routes.get("/")
async def chat_page(request: web.Request) -> web.FileResponse:
    """The browser chat page."""
    return web.FileResponse(STATIC_DIR / "index.html")


def setup(app: web.Application) -> None:
    """Register the web channel's routes and static files."""
    app.router.add_routes(routes)
    app.router.add_static("/static/", STATIC_DIR, name="static")
