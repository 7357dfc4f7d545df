"""Mini-program channel: `POST /api/v1/mp/login` exchanges a `wx.login` code for the project's token; the
mini-program then uses the web channel's message, event and case API with it (replies, buttons and cards as
JSON; the user id `mp:<openid>` makes the channel `mp`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from bot.http import client_address, json_response, read_json_object, require_str
from bot.messages import Reply
from bot.texts import Texts
from bot.typedefs import HTTP_CLIENT, OUTBOX, RATE_LIMITER, REDIS, SETTINGS, TOKENS
from channels.wechat import OutboxDispatcher, template_data
from channels.wechat_api import (
    MINUTE_QUOTA,
    NOT_SUBSCRIBED,
    RECIPIENT_REFUSED,
    WeChatApi,
    WeChatApiError,
    jscode2session,
)
from core.errors import InvalidInput, NotFound, RateLimited, Unauthorized

CHANNEL = "mp"
log = logging.getLogger("channels.miniprogram")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# jscode2session errcodes that mean this login cannot succeed with this code: invalid (40029), already used
# (40163), or a user WeChat blocks as high-risk (40226). 40013 (invalid AppID) is our configuration, not the code.
BAD_CODE = frozenset({40029, 40163, 40226})
LOGINS_PER_IP_MINUTE = 30

routes = web.RouteTableDef()


@routes.post("/api/v1/mp/login")
async def login(request: web.Request) -> web.Response:
    """`{"code"}` from wx.login → `{"token", "user_id", "expires_at"}`; WeChat's session_key never leaves."""
    settings = request.app[SETTINGS]
    if not (settings.mp_app_id and settings.mp_app_secret):
        raise NotFound("小程序渠道未启用。", code="channel_disabled")
    # Each login costs a call to WeChat's API: one address may log in LOGINS_PER_IP_MINUTE times a minute.
    await request.app[RATE_LIMITER].hit("mp-login-ip", client_address(request), LOGINS_PER_IP_MINUTE, 60,
                                        message="登录太频繁了")
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
        if exc.errcode == MINUTE_QUOTA:  # WeChat: "api minute-quota reach limit, retry next minute"
            raise RateLimited(Texts.from_yaml().get("mp_login_busy"), retry_after=60, code="wechat_quota") from None
        raise
    openid = str(session.get("openid") or "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", openid):
        log.error("jscode2session answered without a usable openid")
        raise WeChatApiError(-2, "no openid")
    user_id = f"{CHANNEL}:{openid}"
    token, expires = request.app[TOKENS].issue(user_id)
    return json_response({"token": token, "user_id": user_id, "expires_at": expires})


MP_OUTBOX = web.AppKey("mp_outbox", OutboxDispatcher)
# Pushed messages that become a subscription message: case updates (the template is about a case).
SUBSCRIBED_SOURCES = frozenset({"case"})


async def subscriptions_ctx(app: web.Application) -> AsyncIterator[None]:
    """Case updates pushed to an `mp:` user also go out as a subscription message (订阅消息), when configured."""
    settings = app[SETTINGS]
    template = settings.mp_subscribe_template_id
    if not (settings.mp_app_id and settings.mp_app_secret and template):
        yield
        return
    api = WeChatApi(app[HTTP_CLIENT], app[REDIS], base_url=settings.wechat_api_base, app_id=settings.mp_app_id,
                    app_secret=settings.mp_app_secret)
    texts = Texts.from_yaml()

    async def send(openid: str, replies: Sequence[Reply], source: str) -> bool:
        """True when done (sent, nothing to send, or refused for good); False to try again later."""
        if source not in SUBSCRIBED_SOURCES or not replies:
            return True  # the mini-program reads these itself (GET /api/v1/messages)
        text = "\n".join(r.text for r in replies)
        data = template_data(settings.mp_subscribe_fields, text, source, texts, settings.timezone)
        try:
            await api.send_subscribe(openid, template, data, settings.mp_subscribe_page)
        except WeChatApiError as exc:
            if exc.errcode == NOT_SUBSCRIBED:
                log.info("a mini-program user has no subscription left; the case update stays in the outbox")
            elif exc.errcode in RECIPIENT_REFUSED:
                log.warning("WeChat refused a subscription message for good: errcode %s", exc.errcode)
            else:
                log.error("subscription message not delivered: errcode %s", exc.errcode)
                return False
        return True

    dispatcher = OutboxDispatcher(CHANNEL, send, app[OUTBOX])
    app[OUTBOX].add_listener(dispatcher)
    app[MP_OUTBOX] = dispatcher
    async with dispatcher.running():
        yield


def setup(app: web.Application) -> None:
    """Register the login route (404 while no mini-program AppID is set) and the subscription messages."""
    app.router.add_routes(routes)
    app.cleanup_ctx.append(subscriptions_ctx)
