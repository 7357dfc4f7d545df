"""A fake WeChat API server for tests: access tokens, customer-service and template messages, the custom menu
and the mini-program's jscode2session. It records every call and can be told to answer with an errcode.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from channels.wechat import signature

# Tencent's published sample values (消息加解密 sample code).
SAMPLE_TOKEN = "spamtest"
SAMPLE_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "test-app-secret"
MP_APP_ID = "wxmp0000000000test"
MP_SECRET = "test-mp-secret"
GOOD_CODE = "0a1b2c3d4e5f-good"


@dataclass
class Call:
    """One request the fake received."""

    path: str
    query: dict[str, str]
    body: Any


@dataclass
class FakeWeChat:
    """State of the fake API: calls, issued tokens, queued errcodes per path."""

    calls: list[Call] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    errors: dict[str, list[int]] = field(default_factory=dict)
    menu: dict[str, Any] | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def called(self, path: str) -> list[Call]:
        """The calls to one path, oldest first."""
        return [c for c in self.calls if c.path == path]

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (WeChat answers 40001)."""
        self.tokens.clear()

    async def wait_for(self, predicate: Callable[[FakeWeChat], bool], seconds: float = 10.0) -> None:
        """Wait (bounded) until the recorded calls satisfy `predicate`."""
        async with asyncio.timeout(seconds), self.changed:
            await self.changed.wait_for(lambda: predicate(self))

    async def _record(self, request: web.Request) -> Call:
        body = json.loads(await request.read() or b"null")
        call = Call(request.path, dict(request.query), body)
        async with self.changed:
            self.calls.append(call)
            self.changed.notify_all()
        return call

    def _answer(self, call: Call, ok: dict[str, Any] | None = None) -> web.Response:
        queued = self.errors.get(call.path)
        if queued:
            return web.json_response({"errcode": queued.pop(0), "errmsg": "queued error"})
        if call.path.startswith("/cgi-bin/") and call.path != "/cgi-bin/token" \
                and call.query.get("access_token") not in self.tokens:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return web.json_response({"errcode": 0, "errmsg": "ok", **(ok or {})})

    async def token(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (call.query.get("appid"), call.query.get("secret")) not in ((SAMPLE_APP_ID, APP_SECRET),
                                                                        (MP_APP_ID, MP_SECRET)):
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        token = f"ACCESS_TOKEN_{next(self._counter)}"
        self.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def plain(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if call.path == "/cgi-bin/menu/create":
            self.menu = call.body
        if call.path == "/cgi-bin/menu/get":
            return self._answer(call, {"menu": self.menu or {}})
        return self._answer(call)

    async def jscode2session(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if queued := self.errors.get(call.path):
            return web.json_response({"errcode": queued.pop(0), "errmsg": "queued error"})
        if call.query.get("appid") != MP_APP_ID or call.query.get("secret") != MP_SECRET:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        if call.query.get("js_code") != GOOD_CODE:
            return web.json_response({"errcode": 40029, "errmsg": "invalid code"})
        return web.json_response({"openid": "o-mp-openid-1", "session_key": "SESSION-KEY-NEVER-SHOWN"})

    def app(self) -> web.Application:
        """The aiohttp app serving the fake."""
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.plain)
        app.router.add_post("/cgi-bin/message/template/send", self.plain)
        app.router.add_post("/cgi-bin/message/subscribe/send", self.plain)
        app.router.add_post("/cgi-bin/menu/create", self.plain)
        app.router.add_get("/cgi-bin/menu/get", self.plain)
        app.router.add_get("/sns/jscode2session", self.jscode2session)
        return app


def signed_query(token: str = SAMPLE_TOKEN, *, timestamp: int | None = None, nonce: str = "1320562132",
                 openid: str = "") -> dict[str, str]:
    """Query parameters as WeChat signs them."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    query = {"signature": signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    if openid:
        query["openid"] = openid
    return query


def text_xml(openid: str, content: str, msg_id: int, *, create_time: int | None = None) -> str:
    """A text message as WeChat pushes it."""
    return (f"<xml><ToUserName><![CDATA[gh_yichuang]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def event_xml(openid: str, event: str, key: str = "", *, create_time: int | None = None) -> str:
    """An event as WeChat pushes it."""
    return (f"<xml><ToUserName><![CDATA[gh_yichuang]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")


def voice_xml(openid: str, recognition: str, msg_id: int) -> str:
    """A voice message with WeChat's speech recognition result."""
    return (f"<xml><ToUserName><![CDATA[gh_yichuang]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
            f"<MediaId><![CDATA[media-1]]></MediaId><Format><![CDATA[amr]]></Format>"
            f"<Recognition><![CDATA[{recognition}]]></Recognition><MsgId>{msg_id}</MsgId></xml>")

