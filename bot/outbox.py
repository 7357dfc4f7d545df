"""Messages pushed to a user outside a turn (staff replies, case updates): stored in SQL, announced
on Redis pub/sub so the worker holding the user's event stream can deliver them at once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import redis.asyncio as aioredis
from sqlmodel import select

from bot.messages import Reply
from bot.models import OutboundMessage
from core.db import SessionFactory
from core.keys import Prefix, key
from core.listeners import Listeners

log = logging.getLogger("bot.outbox")


class OutboxListener(Protocol):
    """Told of every push once it is stored: a channel that must send pushed messages itself (WeChat) listens."""

    async def pushed(self, user_id: str, replies: Sequence[Reply], source: str) -> None:
        """React to messages stored for `user_id`; must not block for long (queue the work)."""
        ...


class Outbox:
    """Push and read back a user's outbound messages; the message id is the read cursor."""

    def __init__(self, db: SessionFactory, redis: aioredis.Redis) -> None:
        self._db = db
        self._redis = redis
        self._listeners: Listeners[OutboxListener] = Listeners(log)

    def add_listener(self, listener: OutboxListener) -> None:
        """Call `listener.pushed` after every push (the app factory wires channels in)."""
        self._listeners.add(listener)

    async def push(self, user_id: str, replies: Sequence[Reply], source: str) -> list[int]:
        """Store the replies for the user and notify listeners. Returns the new message ids."""
        rows = [OutboundMessage(user_id=user_id, source=source, reply=r.to_json()) for r in replies]
        async with self._db() as db:
            db.add_all(rows)
            await db.commit()
        ids = [row.id for row in rows if row.id is not None]
        if ids:
            await self._redis.publish(key(Prefix.USER_EVENTS, user_id), str(ids[-1]))
        # The message is stored: a listener's failure must not fail the push.
        await self._listeners.tell(lambda listener: listener.pushed(user_id, replies, source), f"push to {source}")
        return ids

    async def after(self, user_id: str, cursor: int, limit: int = 100) -> list[OutboundMessage]:
        """The user's messages with an id greater than `cursor`, oldest first."""
        async with self._db() as db:
            query = (select(OutboundMessage)
                     .where(OutboundMessage.user_id == user_id, OutboundMessage.id > cursor)  # type: ignore[operator]
                     .order_by(OutboundMessage.id).limit(limit))  # type: ignore[arg-type]
            return list((await db.exec(query)).all())

    @contextlib.asynccontextmanager
    async def notifications(self, user_id: str) -> AsyncIterator[aioredis.client.PubSub]:
        """Subscribe to the user's push notifications for the duration of the block."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(key(Prefix.USER_EVENTS, user_id))
        try:
            yield pubsub
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()
