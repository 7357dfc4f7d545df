"""Chat sessions: short-lived conversation state, kept in Redis with an idle TTL."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, cast

import redis.asyncio as aioredis

from core.keys import Prefix, key


@dataclass
class Session:
    """Where one user's conversation stands.

    `flow` is the active flow's name; each flow keeps its own slots under `slots[flow]` and never
    touches another's. `buttons` remembers the last offered choices so "1" or "第二个" can select one.
    """

    user_id: str
    channel: str
    flow: str | None = None
    slots: dict[str, dict[str, Any]] = field(default_factory=dict)
    buttons: list[dict[str, str]] = field(default_factory=list)
    misses: int = 0
    turns: int = 0
    started_at: float = field(default_factory=time.time)

    def slots_of(self, flow: str) -> dict[str, Any]:
        """The mutable slot dict of one flow."""
        return self.slots.setdefault(flow, {})

    def end_flow(self) -> None:
        """Leave the active flow and forget its slots."""
        if self.flow is not None:
            self.slots.pop(self.flow, None)
        self.flow = None

    def to_json(self) -> str:
        """Serialise for storage."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Session:
        """Deserialise; unknown keys from an older version are ignored."""
        data = json.loads(raw)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class SessionStore(Protocol):
    """Loads and saves sessions. Every implementation must pass tests/bot/test_session_store.py."""

    async def load(self, user_id: str) -> Session | None:
        """The stored session, or None if there is none or it expired."""
        ...

    async def save(self, session: Session) -> None:
        """Store the session and restart its idle timer."""
        ...

    async def delete(self, user_id: str) -> None:
        """Forget the session."""
        ...


class RedisSessionStore:
    """Sessions as JSON strings under `yc:session:<user_id>`, expiring after `ttl_seconds` idle."""

    def __init__(self, redis: aioredis.Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def load(self, user_id: str) -> Session | None:
        """The stored session, or None if there is none or it expired."""
        raw = await self._redis.get(key(Prefix.SESSION, user_id))
        return Session.from_json(cast(str, raw)) if raw else None  # decode_responses=True

    async def save(self, session: Session) -> None:
        """Store the session and restart its idle timer."""
        await self._redis.set(key(Prefix.SESSION, session.user_id), session.to_json(), ex=self._ttl)

    async def delete(self, user_id: str) -> None:
        """Forget the session."""
        await self._redis.delete(key(Prefix.SESSION, user_id))
