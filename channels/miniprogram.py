"""Mini-program channel: `POST /api/v1/mp/login` exchanges a `wx.login` code for the project's token; the
mini-program then uses the web channel's message, event and case API with it (replies, buttons and cards as
JSON; the user id `mp:<openid>` makes the channel `mp`).
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from bot.http import read_json_object, require_str
from bot.texts import Texts
from bot.typedefs import HTTP_CLIENT, SETTINGS, TOKENS
from channels.wechat_api import WeChatApiError, jscode2session
from core.errors import InvalidInput, NotFound, Unauthorized

CHANNEL = "mp"
log = logging.getLogger("channels.miniprogram")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# jscode2session errcodes that mean the code itself is bad (invalid, used, or from another app).
BAD_CODE = frozenset({40029, 40163, 40226, 40013})

routes = web.RouteTableDef()


@routes.post("/api/v1/mp/login")
async def login(request: web.Request) -> web.Response:
    """`{"code"}` from wx.login → `{"token", "user_id", "expires_at"}`; WeChat's session_key never leaves."""
    settings = request.app[SETTINGS]
    if not (settings.mp_app_id and settings.mp_app_secret):
        raise NotFound("小程序渠道未启用。", code="channel_disabled")
    body = await read_json_object(request)
    code = require_str(body, "code", max_chars=128) or ""
    if not _CODE.match(code):
        raise InvalidInput("code 只能包含字母、数字、_ 和 -。", code="invalid_field")
    try:
        session = await jscode2session(request.app[HTTP_CLIENT], base_url=settings.wechat_api_base,
                                       app_id=settings.mp_app_id, app_secret=settings.mp_app_secret, code=code)
    except WeChatApiError as exc:
        if exc.errcode in BAD_CODE:
            raise Unauthorized(Texts.from_yaml().get("mp_login_failed"), code="invalid_code") from None
        raise
    openid = str(session.get("openid") or "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", openid):
        log.error("jscode2session answered without a usable openid")
        raise WeChatApiError(-2, "no openid")
    user_id = f"{CHANNEL}:{openid}"
    token, expires = request.app[TOKENS].issue(user_id)
    return web.json_response({"token": token, "user_id": user_id, "expires_at": expires})


def setup(app: web.Application) -> None:
    """Register the login route (404 while no mini-program AppID is set)."""
    app.router.add_routes(routes)
