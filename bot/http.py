"""HTTP plumbing shared by every route: one error middleware and JSON body parsing."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.typedefs import SETTINGS
from core import jsoncodec
from core.errors import InvalidInput, PayloadTooLarge, RateLimited, YichuangError

log = logging.getLogger("bot.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The largest row id either database can hold (SQL INTEGER): PostgreSQL refuses a bigger query argument and
# SQLite overflows, so a bigger number in a URL can only be "not found" or "invalid".
MAX_ROW_ID = 2**31 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")

# aiohttp's own errors (no such route, wrong method, ...): the code and a message a citizen can read.
_HTTP_ERRORS = {
    400: ("bad_request", "请求格式不正确。"),
    401: ("unauthorized", "请先登录或获取令牌。"),
    403: ("forbidden", "您没有权限访问该地址。"),
    404: ("not_found", "没有找到该地址，请检查链接是否正确。"),
    405: ("method_not_allowed", "该地址不支持此请求方法。"),
    413: ("payload_too_large", "请求体过大。"),
    415: ("unsupported_media_type", "不支持该请求内容类型。"),
    429: ("rate_limited", "请求过于频繁，请稍后再试。"),
}
_HTTP_OTHER = ("http_error", "请求无法处理，请检查后重试。")


def error_body(code: str, message: str) -> dict[str, Any]:
    """The one JSON error shape of the API."""
    return {"error": {"code": code, "message": message}}


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None,
                  default: Callable[[Any], Any] | None = None) -> web.Response:
    """`data` as a JSON response (UTF-8, Chinese as it is), encoded by orjson (core.jsoncodec)."""
    return encoded_json_response(jsoncodec.dump_bytes(data, default), status=status, headers=headers)


def encoded_json_response(body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response of a body already encoded (a turn's answer, also kept for retries)."""
    return web.Response(body=body, status=status, headers=headers, content_type="application/json", charset="utf-8")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error response."""
    return json_response(error_body(code, message), status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map project errors and aiohttp's HTTP errors to JSON; log anything else and hide it."""
    try:
        return await handler(request)
    except YichuangError as exc:
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        if exc.status >= 500:
            log.error("%s %s failed: %s", request.method, request.path, exc.message)
        return error_response(exc.status, exc.code, exc.message, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = _HTTP_ERRORS.get(exc.status, _HTTP_OTHER)
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, code, message, allow)
    except (RedisConnectionError, RedisTimeoutError, OperationalError, ConnectionError, TimeoutError) as exc:
        # TimeoutError: asyncpg's command timeout (a frozen database) surfaces unwrapped.
        return _unavailable(request, exc)
    except DBAPIError as exc:
        if exc.connection_invalidated:  # the connection was lost, e.g. the database restarted mid-transaction
            return _unavailable(request, exc)
        return _internal_error(request)
    except Exception:
        return _internal_error(request)


def _unavailable(request: web.Request, exc: Exception) -> web.Response:
    log.error("%s %s: backing service unavailable: %s", request.method, request.path, type(exc).__name__)
    return error_response(503, "service_unavailable", "服务暂时不可用，请稍后再试。", {"Retry-After": "5"})


def _internal_error(request: web.Request) -> web.Response:
    log.exception("%s %s failed", request.method, request.path)  # called while handling the exception
    return error_response(500, "internal_error", "服务器内部错误，请稍后再试。")


def client_address(request: web.Request) -> str:
    """The address a per-address limit counts: the peer, or behind a trusted proxy (YICHUANG_TRUST_FORWARDED_FOR)
    the last X-Forwarded-For entry, the one that proxy appended (nginx: $proxy_add_x_forwarded_for); earlier
    entries are whatever the client sent. Without it, everyone behind the proxy would share one address.
    """
    if request.app[SETTINGS].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "").rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded[:64]
    return request.remote or "unknown"


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or InvalidInput/PayloadTooLarge saying what is wrong."""
    raw = await request.read()  # over the app's client_max_size: HTTPRequestEntityTooLarge → 413
    if not raw:
        raise InvalidInput("请求体为空，需要一个 JSON 对象。", code="empty_body")
    try:
        body = jsoncodec.loads(raw)
    except jsoncodec.DecodeError:  # invalid UTF-8 and lone surrogates too
        raise InvalidInput("请求体不是合法的 JSON。", code="malformed_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("请求体必须是 JSON 对象。", code="malformed_json")
    return body


def require_str(body: dict[str, Any], field: str, *, max_chars: int, required: bool = True) -> str | None:
    """A string field of a JSON body, checked for type and length."""
    value = body.get(field)
    if value is None:
        if required:
            raise InvalidInput(f"缺少字段 {field}。", code="missing_field")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"字段 {field} 必须是字符串。", code="invalid_field")
    if len(value) > max_chars:
        raise PayloadTooLarge(f"字段 {field} 不能超过 {max_chars} 个字符。", code="field_too_long")
    # PostgreSQL text cannot hold NUL; it carries no meaning in a message, so it is dropped.
    return value.replace("\x00", "")


def query_date(request: web.Request, name: str) -> date | None:
    """The query parameter `name` as a date (YYYY-MM-DD), None when absent; InvalidInput (400) otherwise."""
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"参数 {name} 须为 YYYY-MM-DD 格式的日期。", code="invalid_query") from None


def parse_uint(raw: str, *, maximum: int = MAX_ROW_ID) -> int | None:
    """`raw` as an integer 0..`maximum` written in ASCII digits, or None.

    `str.isdigit()` is not enough for input from a URL: it accepts "²" (which `int()` refuses) and any number
    of digits (which the database refuses).
    """
    if not _ASCII_DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= maximum else None
