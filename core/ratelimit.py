"""Fixed-window rate limits kept in Redis, so every worker counts against the same budget.

A limit is named (`login-user`) and counted per subject (a username, an IP address). The first hit in a window
creates the counter with the window as its TTL; when the key expires the window starts afresh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.errors import RateLimited
from core.keys import Prefix, key

# Lua functions for scripts that count several limits (KEYS[first_key] onwards) in one round trip, the window
# and limit of each in ARGV from `first_arg` on, in pairs. `hit_all` counts them in order and returns the TTL
# of the first one over its limit, whose successors count nothing (as separate hits would), or nil.
# `used_up` counts nothing and returns the TTL of the first limit whose budget is used up, or nil. Shared with
# the turn's begin script (bot/turn_state.py), which counts the chat's limits as it takes the user's lock.
# INCR and EXPIRE in one script: a crash between the two cannot leave a counter that never expires.
LUA_LIMITS = """
local function hit_all(first_key, first_arg)
  for i = first_key, #KEYS do
    local a = first_arg + 2 * (i - first_key)
    local window, limit = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    local count = redis.call('INCR', KEYS[i])
    local ttl = redis.call('TTL', KEYS[i])
    if ttl < 0 then
      redis.call('EXPIRE', KEYS[i], window)
      ttl = window
    end
    if count > limit then
      return ttl
    end
  end
  return nil
end
local function used_up(first_key, first_arg)
  for i = first_key, #KEYS do
    local a = first_arg + 2 * (i - first_key)
    local window, limit = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    if tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
      local ttl = redis.call('TTL', KEYS[i])
      return ttl > 0 and ttl or window
    end
  end
  return nil
end
"""


def _limits_script(function: str) -> str:
    """A script running one of LUA_LIMITS' functions over all its keys: {1, ttl} if it found a limit, else {0, 0}."""
    return LUA_LIMITS + f"""
local ttl = {function}(1, 1)
if ttl then
  return {{1, ttl}}
end
return {{0, 0}}
"""


_HIT_ALL = _limits_script("hit_all")
_USED_UP = _limits_script("used_up")


@dataclass(frozen=True)
class Budget:
    """Limits counted together, in order: (name, subject, limit, window_seconds) each, and the words of the
    refusal (`发送太频繁了` becomes `发送太频繁了，请 40 秒后再试。`).
    """

    limits: Sequence[tuple[str, str, int, int]]
    message: str = "操作过于频繁"

    def keys(self) -> list[str]:
        """The Redis counters, in order."""
        return [limit_key(name, subject) for name, subject, _limit, _window in self.limits]

    def args(self) -> list[int]:
        """Window and limit of each, in the order of `keys`, as `LUA_LIMITS` reads them."""
        return [number for _name, _subject, limit, window in self.limits for number in (window, limit)]

    def refusal(self, ttl: int) -> RateLimited:
        """429 with Retry-After for a limit reached, its window ending in `ttl` seconds: the message, and when to
        try again in words.
        """
        retry_after = max(int(ttl), 1)
        return RateLimited(f"{self.message}，请 {_wait_in_words(retry_after)}后再试。", retry_after=retry_after)


def limit_key(name: str, subject: str) -> str:
    """The Redis counter of one limit and subject."""
    return key(Prefix.RATE, name, subject)


def _wait_in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} 秒"
    return f"{math.ceil(seconds / 60)} 分钟"


class RateLimiter:
    """Counts events per (limit name, subject) in fixed windows and raises `RateLimited` past the limit."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._hit_all = redis.register_script(_HIT_ALL)
        self._used_up = redis.register_script(_USED_UP)

    async def hit(
        self, name: str, subject: str, limit: int, window_seconds: int, *, message: str = "操作过于频繁"
    ) -> None:
        """Count one event; raise `RateLimited` if it is more than `limit` in the current window."""
        await self.hit_all(Budget([(name, subject, limit, window_seconds)], message))

    async def hit_all(self, budget: Budget) -> None:
        """`hit` for each of the budget's limits in order, in one round trip; the first one over its limit
        raises `RateLimited` and the later ones are not counted.
        """
        over, ttl = await self._hit_all(keys=budget.keys(), args=budget.args())
        if int(over):
            raise budget.refusal(ttl)

    async def check(
        self, name: str, subject: str, limit: int, window_seconds: int, *, message: str = "操作过于频繁"
    ) -> None:
        """Raise `RateLimited` if the window's budget is used up (one more hit would be over); counts nothing."""
        budget = Budget([(name, subject, limit, window_seconds)], message)
        over, ttl = await self._used_up(keys=budget.keys(), args=budget.args())
        if int(over):
            raise budget.refusal(ttl)

    async def reset(self, name: str, subject: str) -> None:
        """Forget the count of this subject (e.g. after a successful login)."""
        await self._redis.delete(limit_key(name, subject))
