"""A turn's state in Redis: the per-user lock, the message's de-duplication entry, the chat session and the
user's open-ticket marker, read in one round trip when a turn begins and written in one when it ends.

Separate commands cost eight round trips a turn, a fifth of a turn's CPU (bench/RESULTS.md, issue 9). Each
script runs atomically in Redis, so nothing another worker does can fall between the lock and the reads.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from bot.session import Session
from core.errors import ServiceUnavailable
from core.keys import Prefix, key

# Take the lock; if it is ours, read the rest. KEYS: lock, dedupe, session, ticket marker. ARGV: token, lock ms.
# A missing key reads as Lua false, which Redis returns as nil.
_BEGIN = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
return {redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4])}
"""

# Remember the answer and the session, then let go of the lock if it is still ours (a turn that outlived its
# lock must not release the next turn's). KEYS: lock, dedupe, session. ARGV: token, answer, dedupe ttl,
# session, session ttl. Returns 1 if the lock was still held.
_FINISH = """
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

LOCK_POLL_SECONDS = 0.05


@dataclass
class Begun:
    """What Redis held for a turn when its lock was taken."""

    user_id: str
    msg_id: str
    token: str
    answer: str | None  # the JSON answer of this message id if it was processed already
    session: Session | None  # None: no session (never started, expired, or lost)
    ticket_marker: str | None  # the raw USER_TICKET value (handoff/tickets.py reads it)


class TurnState:
    """Begins and finishes turns against Redis; one user's turns run one at a time across all workers."""

    def __init__(self, redis: aioredis.Redis, *, lock_seconds: float, session_ttl_seconds: int,
                 dedupe_ttl_seconds: int) -> None:
        self._lock_ms = max(int(lock_seconds * 1000), 1)
        self._session_ttl = session_ttl_seconds
        self._dedupe_ttl = dedupe_ttl_seconds
        self._begin = redis.register_script(_BEGIN)
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(_RELEASE)

    @staticmethod
    def _keys(user_id: str, msg_id: str) -> list[str]:
        return [key(Prefix.USER_LOCK, user_id), key(Prefix.DEDUPE, user_id, msg_id), key(Prefix.SESSION, user_id)]

    async def begin(self, user_id: str, msg_id: str) -> Begun:
        """Take the user's lock (waiting at most the lock's lifetime for the turn before) and read the state.

        Raises `ServiceUnavailable` (503, code `busy`) if the previous turn still holds the lock by then.
        """
        token = secrets.token_hex(8)
        keys = [*self._keys(user_id, msg_id), key(Prefix.USER_TICKET, user_id)]
        give_up = time.monotonic() + self._lock_ms / 1000
        while True:
            read = await self._begin(keys=keys, args=[token, self._lock_ms])
            if read:
                answer, session, marker = cast(list[str | None], read)
                return Begun(user_id, msg_id, token, answer, Session.from_json(session) if session else None, marker)
            if time.monotonic() >= give_up:
                raise ServiceUnavailable("上一条消息还在处理中，请稍后再试。", code="busy")
            await asyncio.sleep(LOCK_POLL_SECONDS)

    async def finish(self, begun: Begun, session: Session, answer: str) -> bool:
        """Store the answer (for retries of this message id) and the session (renewing its idle TTL), and
        release the lock. Returns False if the turn outlived its lock (another turn may have started).
        """
        done = await self._finish(keys=self._keys(begun.user_id, begun.msg_id),
                                  args=[begun.token, answer, self._dedupe_ttl, session.to_json(), self._session_ttl])
        return bool(done)

    async def release(self, begun: Begun) -> None:
        """Release the lock without storing anything (the turn failed or was a duplicate)."""
        await self._release(keys=[key(Prefix.USER_LOCK, begun.user_id)], args=[begun.token])
