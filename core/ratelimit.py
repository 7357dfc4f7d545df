"""Fixed-window rate limits kept in Redis, so every worker counts against the same budget.

A limit is named (`login-user`) and counted per subject (a username, an IP address). The first hit in a window
creates the counter with the window as its TTL; when the key expires the window starts afresh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import redis.asyncio as aioredis

from core.errors import RateLimited
from core.keys import Prefix, key

# INCR and EXPIRE in one step: a crash between the two cannot leave a counter that never expires.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

# Several limits in one round trip, in order: the first one over its limit stops the rest (they count nothing),
# as separate hits would. ARGV: window and limit for each key. Returns {index (1-based) or 0, ttl}.
_HIT_ALL = """
for i, k in ipairs(KEYS) do
  local window, limit = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local count = redis.call('INCR', k)
  local ttl = redis.call('TTL', k)
  if ttl < 0 then
    redis.call('EXPIRE', k, window)
    ttl = window
  end
  if count > limit then
    return {i, ttl}
  end
end
return {0, 0}
"""


def _wait_in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} 秒"
    return f"{math.ceil(seconds / 60)} 分钟"


class RateLimiter:
    """Counts events per (limit name, subject) in fixed windows and raises `RateLimited` past the limit."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._hit = redis.register_script(_HIT)
        self._hit_all = redis.register_script(_HIT_ALL)

    @staticmethod
    def _key(name: str, subject: str) -> str:
        return key(Prefix.RATE, name, subject)

    @staticmethod
    def _refuse(ttl: int, message: str) -> RateLimited:
        retry_after = max(int(ttl), 1)
        return RateLimited(f"{message}，请 {_wait_in_words(retry_after)}后再试。", retry_after=retry_after)

    async def hit(
        self, name: str, subject: str, limit: int, window_seconds: int, *, message: str = "操作过于频繁"
    ) -> None:
        """Count one event; raise `RateLimited` if it is more than `limit` in the current window."""
        count, ttl = await self._hit(keys=[self._key(name, subject)], args=[window_seconds])
        if int(count) > limit:
            raise self._refuse(ttl, message)

    async def hit_all(self, limits: Sequence[tuple[str, str, int, int]], *, message: str = "操作过于频繁") -> None:
        """`hit` for each (name, subject, limit, window_seconds) in order, in one round trip; the first one over
        its limit raises `RateLimited` and the later ones are not counted.
        """
        args: list[int] = []
        for _name, _subject, limit, window_seconds in limits:
            args += [window_seconds, limit]
        over, ttl = await self._hit_all(keys=[self._key(name, subject) for name, subject, _, _ in limits], args=args)
        if int(over):
            raise self._refuse(ttl, message)

    async def check(
        self, name: str, subject: str, limit: int, window_seconds: int, *, message: str = "操作过于频繁"
    ) -> None:
        """Raise `RateLimited` if the window's budget is used up (one more hit would be over); counts nothing."""
        redis_key = self._key(name, subject)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(redis_key)
            pipe.ttl(redis_key)
            raw, ttl = await pipe.execute()
        if raw is not None and int(raw) >= limit:
            raise self._refuse(ttl if ttl > 0 else window_seconds, message)

    async def reset(self, name: str, subject: str) -> None:
        """Forget the count of this subject (e.g. after a successful login)."""
        await self._redis.delete(self._key(name, subject))
