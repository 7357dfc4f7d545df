"""Messages pushed to a user outside a turn (staff replies, case updates): stored in SQL, announced
on Redis pub/sub so the worker holding the user's event stream can deliver them at once.

Channels that send pushed messages themselves (WeChat, mini-program) listen: the pushing worker sends at once and
marks the rows delivered; rows that stay undelivered (the send failed, or the process died first) are sent again
by `redeliver`, a chore of the SLA monitor's leader. Delivery is at least once: a row sent whose mark was lost, or
still queued when the chore looks, goes out twice.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import redis.asyncio as aioredis
from sqlalchemy import Table, insert
from sqlmodel import col, or_, select, update

from bot.messages import Reply
from bot.models import OutboundMessage
from core import jsoncodec
from core.db import SessionFactory, read_sessions, single_statement_engine, utcnow
from core.keys import Prefix, key
from core.listeners import Listeners
from core.pubsub import Inbox, Subscriber

log = logging.getLogger("bot.outbox")

# The redelivery chore leaves a row this long to the normal path (the pushing worker's queue) ...
REDELIVER_AFTER = timedelta(seconds=60)
# ... and gives up on it after this long: WeChat's customer-service window is 48 hours.
REDELIVER_WITHIN = timedelta(hours=48)
REDELIVER_BATCH = 500
_OUTBOUND: Table = OutboundMessage.__table__  # type: ignore[attr-defined]
# One INSERT … RETURNING for all of a push's replies, ids in the order of the replies.
_PUSH = insert(_OUTBOUND).returning(_OUTBOUND.c.id, sort_by_parameter_order=True)


class OutboxListener(Protocol):
    """Told of every push once it is stored: a channel that must send pushed messages itself (WeChat) listens."""

    async def pushed(self, user_id: str, replies: Sequence[Reply], source: str, ids: Sequence[int]) -> None:
        """React to messages stored for `user_id` as rows `ids` (one per reply); must not block for long (queue
        the work). A listener that sends them marks them with `Outbox.mark_delivered(ids)`.
        """
        ...

    async def redeliver(self, now: datetime | None = None) -> int:
        """Send what was pushed to this listener's users and is still undelivered; the number of rows delivered."""
        ...


def _tell_pushed(push: tuple[str, Sequence[Reply], list[int]], source: str,
                 listener: OutboxListener) -> Awaitable[None]:
    user_id, replies, ids = push
    return listener.pushed(user_id, replies, source, ids)


class Outbox:
    """Push and read back a user's outbound messages; the message id is the read cursor."""

    def __init__(self, db: SessionFactory, redis: aioredis.Redis, subscriber: Subscriber, *,
                 menu_ttl_seconds: int) -> None:
        self._db = db
        self._menu_ttl = menu_ttl_seconds
        self._read = read_sessions(db)
        self._single = single_statement_engine(db)  # one statement, no BEGIN/COMMIT round trips (PostgreSQL)
        self._redis = redis
        self._subscriber = subscriber
        self._listeners: Listeners[OutboxListener] = Listeners(log)

    def add_listener(self, listener: OutboxListener) -> None:
        """Call `listener.pushed` after every push (the app factory wires channels in)."""
        self._listeners.add(listener)

    async def push(self, user_id: str, replies: Sequence[Reply], source: str) -> list[int]:
        """Store the replies for the user and notify listeners. Returns the new message ids."""
        return (await self.push_many([(user_id, replies)], source))[0]

    async def push_many(self, messages: Sequence[tuple[str, Sequence[Reply]]], source: str) -> list[list[int]]:
        """`push` for several users at once (a queue's new positions): one INSERT for all the rows and one
        Redis round trip for all the announcements. Returns each user's new message ids, in the given order.

        The buttons of a user's push, if it has any, become the menu their next message chooses from
        (`Prefix.PUSHED_MENU`): "2" after a pushed rating is 满意, not the second button of an older turn.
        """
        now = utcnow()
        rows = [{"user_id": user_id, "source": source, "reply": r.to_json(), "created_at": now, "delivered_at": None}
                for user_id, replies in messages for r in replies]
        stored: list[int] = []
        if rows:
            async with self._single.connect() as conn:
                stored = [int(row.id) for row in await conn.execute(_PUSH, rows)]
                await conn.commit()  # SQLite has begun a transaction (PostgreSQL, in autocommit, has not)
        ids: list[list[int]] = []
        start = 0
        for _user_id, replies in messages:
            ids.append(stored[start:start + len(replies)])
            start += len(replies)
        pushes = [(user_id, replies, user_ids) for (user_id, replies), user_ids in zip(messages, ids, strict=True)]
        announced = [(user_id, user_ids[-1]) for user_id, _replies, user_ids in pushes if user_ids]
        menus = [(user_id, buttons) for user_id, replies in messages
                 if (buttons := [b.to_json() for r in replies for b in r.buttons])]
        if len(announced) == 1 and not menus:
            await self._redis.publish(key(Prefix.USER_EVENTS, announced[0][0]), str(announced[0][1]))
        elif announced:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id, buttons in menus:
                    pipe.set(key(Prefix.PUSHED_MENU, user_id), jsoncodec.dumps(buttons), ex=self._menu_ttl)
                for user_id, newest in announced:
                    pipe.publish(key(Prefix.USER_EVENTS, user_id), str(newest))
                await pipe.execute()
        # The messages are stored: a listener's failure must not fail the push.
        for push in pushes:
            await self._listeners.tell(functools.partial(_tell_pushed, push, source), f"push to {source}")
        return ids

    async def mark_delivered(self, ids: Collection[int], at: datetime | None = None) -> None:
        """Record that rows `ids` reached their channel (a row marked already keeps its first time)."""
        if not ids:
            return
        async with self._single.connect() as conn:
            undelivered = col(OutboundMessage.delivered_at).is_(None)
            await conn.execute(update(OutboundMessage).where(col(OutboundMessage.id).in_(list(ids)), undelivered)
                               .values(delivered_at=at or utcnow()))
            await conn.commit()

    async def undelivered(self, channels: Collection[str], *, now: datetime | None = None,
                          min_age: timedelta = REDELIVER_AFTER, max_age: timedelta = REDELIVER_WITHIN,
                          limit: int = REDELIVER_BATCH) -> list[OutboundMessage]:
        """Rows of users of `channels` (user ids `<channel>:…`) not delivered, pushed at least `min_age` and less
        than `max_age` before `now`; oldest first.
        """
        if not channels:
            return []
        now = now or utcnow()
        async with self._read() as db:
            query = (select(OutboundMessage)
                     .where(col(OutboundMessage.delivered_at).is_(None),
                            col(OutboundMessage.created_at) <= now - min_age,
                            col(OutboundMessage.created_at) > now - max_age,
                            or_(*(col(OutboundMessage.user_id).startswith(f"{c}:") for c in channels)))
                     .order_by(col(OutboundMessage.id)).limit(limit))
            return list((await db.exec(query)).all())

    async def redeliver(self, now: datetime | None = None) -> int:
        """The redelivery chore (run by the SLA monitor's leader, once per service): every listener sends what
        is still undelivered to its users. Returns the number of rows delivered.
        """
        delivered = 0

        async def one(listener: OutboxListener) -> None:
            nonlocal delivered
            delivered += await listener.redeliver(now)

        await self._listeners.tell(one, "redelivery")
        if delivered:
            log.info("redelivered %d pushed messages", delivered)
        return delivered

    async def after(self, user_id: str, cursor: int, limit: int = 100) -> list[OutboundMessage]:
        """The user's messages with an id greater than `cursor`, oldest first."""
        async with self._read() as db:
            query = (select(OutboundMessage)
                     .where(OutboundMessage.user_id == user_id, OutboundMessage.id > cursor)  # type: ignore[operator]
                     .order_by(OutboundMessage.id).limit(limit))  # type: ignore[arg-type]
            return list((await db.exec(query)).all())

    @contextlib.asynccontextmanager
    async def notifications(self, user_id: str) -> AsyncIterator[Inbox]:
        """The user's push notifications (each the newest message id) for the duration of the block."""
        async with self._subscriber.listen(key(Prefix.USER_EVENTS, user_id)) as inbox:
            yield inbox
