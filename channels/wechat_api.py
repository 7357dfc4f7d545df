"""WeChat's HTTP API with aiohttp (wechatpy's client is synchronous): access token shared by every worker
through Redis, refreshed under a lock before it expires; errors retried with back-off and logged with errcode.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from core.errors import YichuangError
from core.keys import Prefix, key

log = logging.getLogger("channels.wechat_api")

# errcodes that mean "this access token is no good": fetch a new one and try again.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# errcodes worth another try after a short pause: system busy. (45009, the daily quota, and 45011, the per-minute
# quota - "retry next minute" - are not: a second later they answer the same; the outbox's redelivery retries later.)
TRANSIENT_ERRORS = frozenset({-1})
# The customer-service window has closed: 48 hours since the user last wrote (45015), or the messages it allows
# have been used up (45047). A template message may still reach the follower.
WINDOW_CLOSED = frozenset({45015, 45047})
# A mini-program user has no subscription (left) for this template.
NOT_SUBSCRIBED = 43101
# The recipient cannot receive this message, and sending it again will not change that: invalid openid (40003),
# not following the account (43004), blacklisted (43019), no subscription left (43101).
RECIPIENT_REFUSED = frozenset({40003, 43004, 43019, NOT_SUBSCRIBED})
# The per-minute quota of an API (jscode2session: 100 a minute per user); WeChat says to retry next minute.
MINUTE_QUOTA = 45011
# A cached token is dropped this long before WeChat says it expires.
TOKEN_MARGIN_SECONDS = 300


class WeChatApiError(YichuangError):
    """WeChat's API answered with an errcode, or could not be reached after the retries."""

    status = 502
    code = "wechat_api_error"

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"微信接口调用失败（{errcode}）。")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatApi:
    """Calls WeChat's official-account API for one AppID; one instance per worker, the token shared in Redis."""

    def __init__(self, http: aiohttp.ClientSession, redis: aioredis.Redis, *, base_url: str, app_id: str,
                 app_secret: str, attempts: int = 3, backoff_seconds: float = 0.5,
                 timeout_seconds: float = 10.0) -> None:
        self._http = http
        self._redis = redis
        self._base = base_url.rstrip("/")
        self._app_id = app_id
        self._secret = app_secret
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    @property
    def _token_key(self) -> str:
        return key(Prefix.WECHAT_TOKEN, self._app_id)

    async def access_token(self, *, stale: str | None = None) -> str:
        """The shared access token; `stale` names a token WeChat refused, which is replaced once for everyone."""
        cached = await self._redis.get(self._token_key)  # the app's client decodes responses
        if cached and cached != stale:
            return str(cached)
        async with self._redis.lock(key(Prefix.WECHAT_TOKEN_LOCK, self._app_id), timeout=30, blocking_timeout=30):
            cached = await self._redis.get(self._token_key)  # another worker may have refreshed it meanwhile
            if cached and cached != stale:
                return str(cached)
            data = await self._request("GET", "/cgi-bin/token", params={
                "grant_type": "client_credential", "appid": self._app_id, "secret": self._secret})
            token = str(data["access_token"])
            ttl = max(int(data.get("expires_in", 7200)) - TOKEN_MARGIN_SECONDS, 60)
            await self._redis.set(self._token_key, token, ex=ttl)
            log.info("WeChat access token refreshed for %s (valid %s s)", self._app_id, ttl)
            return token

    async def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One API call with the access token; a refused token is refreshed and the call repeated once."""
        token = await self.access_token()
        try:
            return await self._request(method, path, params={"access_token": token}, body=body)
        except WeChatApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.warning("WeChat refused the access token on %s (errcode %s); refreshing", path, exc.errcode)
            token = await self.access_token(stale=token)
            return await self._request(method, path, params={"access_token": token}, body=body)

    async def _request(self, method: str, path: str, *, params: Mapping[str, str],
                       body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return await request_json(self._http, method, self._base + path, params=params, body=body,
                                  attempts=self._attempts, backoff_seconds=self._backoff, client_timeout=self._timeout)

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (客服消息); errcode 45015 once the 48-hour window has closed."""
        await self.call("POST", "/cgi-bin/message/custom/send",
                        {"touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_template(self, openid: str, template_id: str, data: Mapping[str, str],
                            url: str | None = None) -> None:
        """A template message (模板消息): `data` maps each template field to its value."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id,
                                "data": {name: {"value": value} for name, value in data.items()}}
        if url:
            body["url"] = url
        await self.call("POST", "/cgi-bin/message/template/send", body)

    async def send_subscribe(self, openid: str, template_id: str, data: Mapping[str, str],
                             page: str | None = None) -> None:
        """A mini-program subscription message (订阅消息); errcode 43101 when the user has not subscribed."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id,
                                "data": {name: {"value": value} for name, value in data.items()}}
        if page:
            body["page"] = page
        await self.call("POST", "/cgi-bin/message/subscribe/send", body)

    async def menu_create(self, menu: Mapping[str, Any]) -> None:
        """Replace the custom menu (自定义菜单)."""
        await self.call("POST", "/cgi-bin/menu/create", menu)

    async def menu_get(self) -> dict[str, Any]:
        """The custom menu as WeChat has it."""
        return await self.call("GET", "/cgi-bin/menu/get")


async def request_json(http: aiohttp.ClientSession, method: str, url: str, *, params: Mapping[str, str],
                       body: Mapping[str, Any] | None = None, attempts: int = 3, backoff_seconds: float = 0.5,
                       client_timeout: aiohttp.ClientTimeout | None = None) -> dict[str, Any]:
    """Send, retrying network errors and transient errcodes with back-off; WeChatApiError for any other errcode.
    Logs the path and errcode, never the query (it carries secrets and tokens).
    """
    path = url.split("?", 1)[0]
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None  # WeChat wants raw UTF-8
    headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else None
    last = WeChatApiError(-2, "not attempted")
    for attempt in range(1, attempts + 1):
        try:
            async with http.request(method, url, params=params, data=data, headers=headers,
                                    timeout=client_timeout or aiohttp.ClientTimeout(total=10)) as resp:
                answer = await resp.json(content_type=None)
                if resp.status >= 500:
                    raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            last = WeChatApiError(-2, type(exc).__name__)
            log.warning("WeChat API %s failed (attempt %s/%s): %s", path, attempt, attempts, type(exc).__name__)
        else:
            if not isinstance(answer, dict):
                answer = {"errcode": -2, "errmsg": "not a JSON object"}
            errcode = int(answer.get("errcode", 0) or 0)
            if errcode == 0:
                return answer
            last = WeChatApiError(errcode, str(answer.get("errmsg", "")))
            log.warning("WeChat API %s: errcode %s %s (attempt %s/%s)", path, errcode, last.errmsg, attempt, attempts)
            if errcode not in TRANSIENT_ERRORS:
                raise last
        if attempt < attempts:
            await asyncio.sleep(backoff_seconds * 2 ** (attempt - 1))
    raise last


async def jscode2session(http: aiohttp.ClientSession, *, base_url: str, app_id: str, app_secret: str,
                         code: str) -> dict[str, Any]:
    """Exchange a mini-program `wx.login` code for `{openid, session_key, unionid?}` (jscode2session)."""
    return await request_json(http, "GET", base_url.rstrip("/") + "/sns/jscode2session", params={
        "appid": app_id, "secret": app_secret, "js_code": code, "grant_type": "authorization_code"})
