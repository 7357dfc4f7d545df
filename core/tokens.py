"""Signed, expiring visitor tokens: `<payload>.<signature>`, HMAC-SHA256 over the payload."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from core import jsoncodec
from core.errors import Unauthorized


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks tokens that carry a user id and an expiry time."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._key = secret.encode()
        self._ttl = ttl_seconds

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, user_id: str, now: float | None = None) -> tuple[str, int]:
        """A new token for `user_id` and its expiry (unix seconds)."""
        expires = int((time.time() if now is None else now) + self._ttl)
        payload = _b64(jsoncodec.dump_bytes({"u": user_id, "e": expires}))
        return f"{payload}.{self._sign(payload)}", expires

    def verify(self, token: str, now: float | None = None) -> str:
        """The user id in a valid token; Unauthorized for a forged, malformed or expired one."""
        payload, _, signature = token.partition(".")
        if not payload or not signature or not hmac.compare_digest(signature, self._sign(payload)):
            raise Unauthorized("令牌无效，请重新获取。", code="invalid_token")
        try:
            claims = jsoncodec.loads(_unb64(payload))
            user_id, expires = str(claims["u"]), int(claims["e"])
        except (ValueError, KeyError, TypeError):
            raise Unauthorized("令牌无效，请重新获取。", code="invalid_token") from None
        if expires < (time.time() if now is None else now):
            raise Unauthorized("令牌已过期，请重新获取。", code="token_expired")
        return user_id
