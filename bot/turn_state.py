"""A turn's state in Redis: the per-user lock, the message's de-duplication entry, the chat session, the
user's open-ticket marker and the buttons of a message pushed since the last turn, read in one round trip when
a turn begins (which counts the channel's message limits too) and written in one when it ends.

Separate commands cost eight round trips a turn, a fifth of a turn's CPU (bench/RESULTS.md, issue 9). Each
script runs atomically in Redis, so nothing another worker does can fall between the lock and the reads.

The user's dedupe horizon (a Unix time) lets most turns skip the SQL turn log: once it has passed, a message
with no dedupe entry is new. A finishing turn sets its message's entry and the horizon together; a beginning
turn takes the horizon away until it finishes. So while the horizon is in Redis, each earlier message of the
user has its entry or was logged so long before the horizon that its retry window is over, and wiping Redis
takes the horizon with it. A worker dying mid-turn leaves none: the next turn asks SQL, and its horizon is
the time of the last logged message plus the dedupe TTL.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from bot.session import Session
from core import jsoncodec
from core.errors import ServiceUnavailable
from core.keys import Prefix, key
from core.ratelimit import LUA_LIMITS, Budget
from handoff.tickets import NO_TICKET, NO_TICKET_SECONDS

# Count the message against its limits and take the lock; if it is ours, read the rest and take the horizon
# away, and the pushed menu too (it is this turn's to use). KEYS: lock, dedupe, session, ticket marker, horizon,
# pushed menu, then the limits' counters. ARGV: token, lock ms,
# then each limit's window and limit. While another turn holds the lock nothing is counted (the caller asks
# again), but a message whose limits are used up already is refused at once instead of waiting for the lock.
# Returns false (busy), {0, ttl} (over a limit: refused, no lock) or {1, answer, session, marker, horizon, menu};
# a missing key reads as Lua false, which Redis returns as nil.
_BEGIN = LUA_LIMITS + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ttl = used_up(7, 3)
  if ttl then
    return {0, ttl}
  end
  return false
end
local ttl = hit_all(7, 3)
if ttl then
  return {0, ttl}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local horizon = redis.call('GET', KEYS[5])
if horizon then
  redis.call('DEL', KEYS[5])
end
local menu = redis.call('GET', KEYS[6])
if menu then
  redis.call('DEL', KEYS[6])
end
return {1, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4]), horizon, menu}
"""

# Remember the answer and the session, then, if the lock is still ours, set the horizon and let go of the lock
# (a turn that outlived its lock must not release the next turn's, nor vouch for it with a horizon).
# KEYS: lock, dedupe, session, horizon. ARGV: token, answer, dedupe ttl, session, session ttl, horizon.
# Returns 1 if the lock was still held.
_FINISH = """
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[4], ARGV[6], 'EX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# Let go of the lock if it is ours, putting a horizon back if one is given. KEYS: lock, horizon. ARGV: token,
# horizon or '', its ttl.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] ~= '' then
    redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
  end
  return redis.call('DEL', KEYS[1])
end
return 0
"""

LOCK_POLL_SECONDS = 0.05
# How long a new visitor's "nothing logged, no ticket" lasts before the first message (`TurnState.welcome`).
WELCOME_SECONDS = NO_TICKET_SECONDS


@dataclass
class Begun:
    """What Redis held for a turn when its lock was taken."""

    user_id: str
    msg_id: str
    token: str
    answer: str | None  # the JSON answer of this message id if it was processed already
    session: Session | None  # None: no session (never started, expired, or lost)
    ticket_marker: str | None  # the raw USER_TICKET value (handoff/tickets.py reads it)
    horizon: int | None  # the user's dedupe horizon (Unix seconds); None: unknown, ask the SQL turn log
    pushed_menu: list[dict[str, Any]] | None = None  # buttons pushed since the last turn (`Outbox.push`), newest


class TurnState:
    """Begins and finishes turns against Redis; one user's turns run one at a time across all workers."""

    def __init__(self, redis: aioredis.Redis, *, lock_seconds: float, session_ttl_seconds: int,
                 dedupe_ttl_seconds: int) -> None:
        self._lock_ms = max(int(lock_seconds * 1000), 1)
        self._session_ttl = session_ttl_seconds
        self._dedupe_ttl = dedupe_ttl_seconds
        self._redis = redis
        self._begin = redis.register_script(_BEGIN)
        self._finish = redis.register_script(_FINISH)
        self._release = redis.register_script(_RELEASE)

    @property
    def dedupe_ttl_seconds(self) -> int:
        """How long a message's dedupe entry lives: its retry window, as far as the horizon is concerned."""
        return self._dedupe_ttl

    @staticmethod
    def _keys(user_id: str, msg_id: str) -> list[str]:
        return [key(Prefix.USER_LOCK, user_id), key(Prefix.DEDUPE, user_id, msg_id), key(Prefix.SESSION, user_id)]

    async def begin(self, user_id: str, msg_id: str, budget: Budget | None = None) -> Begun:
        """Take the user's lock (waiting at most the lock's lifetime for the turn before) and read the state.

        The message counts against `budget`'s limits once, as the lock is taken: one Redis round trip for
        both. Raises `RateLimited` (429) over a limit, without taking the lock. The user's horizon is taken
        away until `finish` (or `release`) gives one back. Raises `ServiceUnavailable` (503, code `busy`) if
        the previous turn still holds the lock by then.
        """
        token = secrets.token_hex(8)
        keys = [*self._keys(user_id, msg_id), key(Prefix.USER_TICKET, user_id), key(Prefix.DEDUPE_HORIZON, user_id),
                key(Prefix.PUSHED_MENU, user_id)]
        args: list[str | int] = [token, self._lock_ms]
        if budget is not None:
            keys += budget.keys()
            args += budget.args()
        give_up = time.monotonic() + self._lock_ms / 1000
        while True:
            read = await self._begin(keys=keys, args=args)
            if read:
                if not int(read[0]):
                    raise cast(Budget, budget).refusal(int(read[1]))
                answer, session, marker, horizon, menu = cast(list[str | None], read[1:])
                return Begun(user_id, msg_id, token, answer, Session.from_json(session) if session else None, marker,
                             _horizon(horizon), _menu(menu))
            if time.monotonic() >= give_up:
                raise ServiceUnavailable("上一条消息还在处理中，请稍后再试。", code="busy")
            await asyncio.sleep(LOCK_POLL_SECONDS)

    async def finish(self, begun: Begun, session: Session, answer: str | bytes, horizon: int) -> bool:
        """Store the answer (for retries of this message id) and the session (renewing its idle TTL), and if
        the lock is still ours, the user's horizon, and release the lock. Returns False if the turn outlived
        its lock (another turn may have started).
        """
        keys = [*self._keys(begun.user_id, begun.msg_id), key(Prefix.DEDUPE_HORIZON, begun.user_id)]
        done = await self._finish(keys=keys, args=[begun.token, answer, self._dedupe_ttl, session.to_json(),
                                                   self._session_ttl, horizon])
        return bool(done)

    async def welcome(self, user_id: str, channel: str) -> None:
        """Record that a user id made just now (a new web visitor) has no logged message, no open ticket and an
        empty session, so its first turn asks SQL none of the three (was it logged already, has the user a
        ticket, was a conversation cut off). Each key is set only if absent; the horizon and the ticket marker
        live WELCOME_SECONDS: a first message later than that asks SQL as before.
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(key(Prefix.SESSION, user_id), Session(user_id, channel).to_json(), nx=True, ex=self._session_ttl)
            pipe.set(key(Prefix.DEDUPE_HORIZON, user_id), 0, nx=True, ex=WELCOME_SECONDS)
            pipe.set(key(Prefix.USER_TICKET, user_id), NO_TICKET, nx=True, ex=WELCOME_SECONDS)
            await pipe.execute()

    async def release(self, begun: Begun, horizon: int | None = None) -> None:
        """Release the lock without storing the turn (it failed or was a duplicate). Give `horizon` back only
        when the turn logged nothing new; without it the user's next turn asks the SQL turn log.
        """
        await self._release(keys=[key(Prefix.USER_LOCK, begun.user_id), key(Prefix.DEDUPE_HORIZON, begun.user_id)],
                            args=[begun.token, "" if horizon is None else horizon, self._dedupe_ttl])


def _menu(raw: str | None) -> list[dict[str, Any]] | None:
    # Written by Outbox.push as a JSON list of buttons; anything else is no menu.
    if raw is None:
        return None
    try:
        menu = jsoncodec.loads(raw)
    except ValueError:
        return None
    return [b for b in menu if isinstance(b, dict)] if isinstance(menu, list) else None


def _horizon(raw: str | None) -> int | None:
    # Anything but an integer (a value written by hand) counts as no horizon: the SQL turn log is asked.
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None
