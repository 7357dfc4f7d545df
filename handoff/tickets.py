"""转人工 tickets: a queue per themed window (主题窗口), staff who claim, reply, transfer and close.

SQL holds every ticket and message (the system of record). Redis holds the live queue of each window as a
sorted set (score: when the ticket joined, so positions are FIFO and O(log n)), each user's open ticket,
and staff presence; all of it is rebuilt from SQL when missing. Claiming is decided by a conditional
UPDATE (`status = 'waiting'`): two staff clicking the same ticket, exactly one gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Table, Text, bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Field, SQLModel, col, select

from core import jsoncodec
from core.clock import SHANGHAI
from core.db import SessionFactory, UTCDateTime, read_sessions, single_statement_engine, stored, utcnow
from core.errors import Conflict, InvalidInput, NotFound
from core.keys import Prefix, key
from core.listeners import Listeners
from core.numbering import Dependents, insert_numbered
from core.yamlfile import YamlRules
from handoff.windows import ALL_WINDOWS

log = logging.getLogger("handoff.tickets")

RULES_FILE = Path(__file__).parent / "data" / "tickets.yml"
SENDERS = ("citizen", "staff", "bot", "note", "system")
MAX_TEXT = 2000
NO_TICKET = "none"  # under USER_TICKET: SQL was asked and the user has no open ticket
NO_TICKET_SECONDS = 600
PRESENCE_SECONDS = 90  # a heartbeat every 30 s keeps a console "online"


class Unread:
    """The type of UNREAD: no marker was passed, read it from Redis."""


UNREAD = Unread()


class CannedReply(BaseModel):
    """A ready answer staff can send with one click."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    title: str
    text: str


class TicketRules(YamlRules):
    """Canned replies per window and the wait estimate when there is no history."""

    source: ClassVar[Path] = RULES_FILE
    minutes_per_ticket: int
    canned: dict[str, tuple[CannedReply, ...]]

    def canned_for(self, window: str) -> list[dict[str, str]]:
        """The window's canned replies after the ones every window has."""
        replies = [*self.canned.get("_all", ()), *self.canned.get(window, ())]
        return [{"window": window, "title": r.title, "text": r.text.replace("{window}", window)} for r in replies]


class Ticket(SQLModel, table=True):
    """One request for a person: waiting in a window's queue, being served, or closed."""

    __tablename__ = "ticket"
    # (user_id, id), not user_id alone: "a user's latest …" (ORDER BY id DESC LIMIT) must not walk the whole
    # table backwards by primary key, which PostgreSQL chose for users with no rows at all (issue 9's soak).
    __table_args__ = (Index("ix_ticket_user_latest", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    user_id: str = Field(max_length=128)
    channel: str = Field(max_length=16)
    window: str = Field(max_length=32, index=True)
    status: str = Field(default="waiting", max_length=16, index=True)
    reason: str = Field(max_length=16, description="request (转人工), misses (bot did not understand), message")
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    staff: str | None = Field(default=None, max_length=64, index=True)
    queued_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    closed_by: str | None = Field(default=None, max_length=80)
    rating: int | None = None

    def to_json(self, position: int | None = None) -> dict[str, Any]:
        """The ticket as the staff API shows it."""
        return {"id": self.id, "number": self.number, "window": self.window, "status": self.status,
                "channel": self.channel, "reason": self.reason, "summary": self.summary,
                "created_at": self.created_at.isoformat(),
                "claimed_at": self.claimed_at.isoformat() if self.claimed_at else None,
                "closed_at": self.closed_at.isoformat() if self.closed_at else None, "staff": self.staff,
                "position": position, "context": self.context, "rating": self.rating}


class TicketMessage(SQLModel, table=True):
    """One line of a ticket's conversation: the citizen, staff, the bot before the handoff, an internal
    note (never shown to the citizen) or a system line (claimed, transferred, closed).
    """

    __tablename__ = "ticket_message"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(sa_column=Column(Integer, ForeignKey("ticket.id"), nullable=False, index=True))
    sender: str = Field(max_length=8)
    text: str = Field(sa_column=Column(Text, nullable=False))
    staff: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))

    def to_json(self) -> dict[str, Any]:
        """The message as the staff API shows it."""
        return {"id": self.id, "sender": self.sender, "text": self.text, "staff": self.staff,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class TicketChange:
    """What just happened to a ticket, for listeners (the citizen's chat, the staff console)."""

    kind: str  # opened, claimed, message, transferred, released, closed, left
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class TicketListener(Protocol):
    """Told about every committed ticket change."""

    async def ticket_changed(self, ticket: Ticket, change: TicketChange) -> None:
        """React to one change."""
        ...


# Set once the live queues have been built from SQL; gone after Redis lost them (a flush, a new server).
_QUEUES_BUILT = key(Prefix.QUEUE, "_built")
_TICKETS: Table = Ticket.__table__  # type: ignore[attr-defined]
# Built once: every user's first turn asks it, and building a statement costs more than executing it.
_OPEN_TICKET_OF = (sa_select(_TICKETS)
                   .where(_TICKETS.c.user_id == bindparam("user_id"), _TICKETS.c.status != "closed")
                   .order_by(_TICKETS.c.id.desc()).limit(1))
_TICKET_BY_ID = sa_select(_TICKETS).where(_TICKETS.c.id == bindparam("ticket_id"))
# Closing decides and writes in one statement: of two closes at once (a citizen's 取消, a staff member's 结束)
# exactly one gets the row back.
_CLOSE = (update(_TICKETS).where(_TICKETS.c.id == bindparam("ticket_id"), _TICKETS.c.status != "closed")
          .values(status="closed", closed_at=bindparam("closing_at"), closed_by=bindparam("closing_actor"))
          .returning(*_TICKETS.c))
_MESSAGES: Table = TicketMessage.__table__  # type: ignore[attr-defined]
_ADD_MESSAGE = insert(_MESSAGES).returning(*_MESSAGES.c)


class TicketService:
    """Opens, queues, claims, relays and closes tickets."""

    def __init__(self, db: SessionFactory, redis: aioredis.Redis, rules: TicketRules, *,
                 clock: Callable[[], datetime] = utcnow, auto_assign_capacity: int = 0) -> None:
        self._db = db
        self._read = read_sessions(db)  # reads without BEGIN/ROLLBACK round trips
        self._single = single_statement_engine(db)  # one statement, no BEGIN/COMMIT round trips (PostgreSQL)
        # 0: staff pick tickets themselves (FIFO); N: a new ticket goes straight to the least busy staff
        # member online at its window who serves fewer than N.
        self._auto_capacity = auto_assign_capacity
        self._redis = redis
        self.rules = rules
        self._clock = clock
        self._listeners: Listeners[TicketListener] = Listeners(log)

    def add_listener(self, listener: TicketListener) -> None:
        """Register something to tell about changes."""
        self._listeners.add(listener)

    # ---- the citizen's side -------------------------------------------------------------------------

    async def open(self, *, user_id: str, channel: str, window: str, reason: str, summary: str,
                   context: dict[str, Any], history: list[tuple[str, str]]) -> tuple[Ticket, bool]:
        """Queue a ticket with the conversation so far (`history`: (sender, text) pairs). A user with an
        open ticket gets that one back (created False).
        """
        if window not in ALL_WINDOWS:
            raise InvalidInput(f"没有“{window}”这个窗口。", code="unknown_window")
        # SQL, not the Redis marker: a worker that died between committing a ticket and setting the marker left
        # "none" there, and the citizen's retry of 转人工 would queue a second ticket (found by test_worker_kill).
        existing = await self._open_ticket_in_sql(user_id)
        if existing is not None:
            await self._redis.set(key(Prefix.USER_TICKET, user_id), str(existing.id))
            return existing, False
        now = self._clock()
        values = {"user_id": user_id, "channel": channel, "window": window, "status": "waiting", "reason": reason,
                  "summary": summary[:MAX_TEXT], "context": context, "queued_at": now, "created_at": now}
        lines = Dependents(_MESSAGES, "ticket_id", [{"sender": sender, "text": text[:MAX_TEXT], "created_at": now}
                                                    for sender, text in history])
        local = now.astimezone(SHANGHAI)
        # Core statements (one on PostgreSQL for a short conversation), not the ORM: 转人工 is a chat turn.
        row = await insert_numbered(self._db, _TICKETS, "number", f"GD{local:%Y%m%d}-", values, [lines])
        ticket = stored(Ticket, row)
        await self._enqueue(ticket, mark_user=True)
        await self._announce(ticket, TicketChange("opened"))
        if ticket.id in await self.auto_assign(window):  # claimed at once: read it as it is now
            return await self.get(ticket.id or 0), True
        return ticket, True

    async def open_ticket_of(self, user_id: str, marker: str | Unread | None = UNREAD) -> Ticket | None:
        """The user's waiting or served ticket, if any (Redis first, SQL when Redis has forgotten).

        Every turn asks this, and almost every user has no ticket: that answer is remembered in Redis too
        (NO_TICKET, for NO_TICKET_SECONDS), so a turn costs no SQL query. `open()` overwrites the marker.
        `marker` is the value of the user's USER_TICKET key when the caller has read it already (the engine
        reads it with the rest of a turn's state).
        """
        user_key = key(Prefix.USER_TICKET, user_id)
        raw = await self._redis.get(user_key) if isinstance(marker, Unread) else marker
        if raw == NO_TICKET:
            return None
        if raw:
            ticket = await self._ticket_by_id(int(raw))
            if ticket is not None and ticket.status != "closed":
                return ticket
            await self._redis.delete(user_key)
            return None
        ticket = await self._open_ticket_in_sql(user_id)
        if ticket is not None:
            await self._redis.set(user_key, str(ticket.id))
        else:  # NX: a ticket opened meanwhile keeps its id
            await self._redis.set(user_key, NO_TICKET, nx=True, ex=NO_TICKET_SECONDS)
        return ticket

    async def _open_ticket_in_sql(self, user_id: str) -> Ticket | None:
        # Asked on every user's first turn, and almost every user has none.
        return await self._read_ticket(_OPEN_TICKET_OF, {"user_id": user_id})

    async def _ticket_by_id(self, ticket_id: int) -> Ticket | None:
        # Asked on every turn of a citizen with an open ticket, and by each action in the console.
        return await self._read_ticket(_TICKET_BY_ID, {"ticket_id": ticket_id})

    async def _read_ticket(self, statement: Any, params: dict[str, Any]) -> Ticket | None:
        # One statement outside a transaction, not an ORM session (BEGIN, SELECT, ROLLBACK).
        async with self._single.connect() as conn:
            row = (await conn.execute(statement, params)).first()
        return None if row is None else stored(Ticket, row._mapping)

    async def of_user(self, user_id: str, limit: int = 5) -> list[Ticket]:
        """A citizen's latest tickets, newest first."""
        async with self._read() as db:
            query = select(Ticket).where(Ticket.user_id == user_id).order_by(col(Ticket.id).desc()).limit(limit)
            return list((await db.exec(query)).all())

    async def citizen_says(self, ticket: Ticket, text: str) -> None:
        """A citizen's message while waiting or served: kept on the ticket and sent to the console."""
        await self._add_message(ticket, "citizen", text)
        await self._announce(ticket, TicketChange("message", text, {"sender": "citizen"}))

    async def citizen_leaves(self, ticket: Ticket) -> Ticket:
        """人工结束 or 取消: the citizen ends the service or leaves the queue."""
        return await self._close(ticket.id or 0, "citizen", note="", kind="left")

    async def position(self, ticket: Ticket) -> int | None:
        """1-based place in the window's queue (None unless waiting)."""
        if ticket.status != "waiting":
            return None
        queue = key(Prefix.QUEUE, ticket.window)
        async with self._redis.pipeline(transaction=False) as pipe:  # the queues' check and the rank: one trip
            pipe.set(_QUEUES_BUILT, "1", nx=True)
            pipe.zrank(queue, str(ticket.id))
            lost, rank = await pipe.execute()
        if lost:  # Redis had lost the queues (a flush, a new server): rebuilt, the rank is asked again
            await self._rebuild_queues()
            rank = await self._redis.zrank(queue, str(ticket.id))
        return None if rank is None else int(rank) + 1

    async def wait_minutes(self, ticket: Ticket, position: int) -> int | None:
        """Estimated wait: position × recent average service time ÷ staff online at the window; None when nobody
        is online there (no estimate can be honest).
        """
        online = len(await self.online_staff(ticket.window))
        if not online:
            return None
        async with self._read() as db:
            query = (select(Ticket).where(Ticket.window == ticket.window, col(Ticket.closed_at).is_not(None),
                                          col(Ticket.claimed_at).is_not(None))
                     .order_by(col(Ticket.id).desc()).limit(20))
            recent = (await db.exec(query)).all()
        spans = [(t.closed_at - t.claimed_at).total_seconds() / 60 for t in recent if t.closed_at and t.claimed_at]
        each = sum(spans) / len(spans) if spans else self.rules.minutes_per_ticket
        return max(1, round(position * each / online))

    async def rate(self, number: str, user_id: str, rating: int) -> Ticket:
        """好差评 of a closed ticket by the citizen it served."""
        async with self._db() as db:
            ticket = (await db.exec(select(Ticket).where(Ticket.number == number.upper()))).first()
            if ticket is None or ticket.user_id != user_id:
                raise NotFound("没有找到这次服务。")
            if ticket.status != "closed" or ticket.rating is not None or ticket.claimed_at is None:
                raise Conflict("这次服务现在不能评价。", code="not_ratable")
            ticket.rating = rating
            db.add(ticket)
            await db.commit()
            await db.refresh(ticket)
        return ticket

    async def unrated_since(self, user_id: str, since: datetime) -> Ticket | None:
        """The user's newest service closed at or after `since` that a staff member took and nobody rated yet."""
        query = (select(Ticket).where(Ticket.user_id == user_id, Ticket.status == "closed",
                                      col(Ticket.rating).is_(None), col(Ticket.claimed_at).is_not(None),
                                      col(Ticket.closed_at) >= since)
                 .order_by(col(Ticket.id).desc()).limit(1))
        async with self._read() as db:
            return (await db.exec(query)).first()

    # ---- the staff side -----------------------------------------------------------------------------

    async def get(self, ticket_id: int) -> Ticket:
        """The ticket, or NotFound."""
        ticket = await self._ticket_by_id(ticket_id)
        if ticket is None:
            raise NotFound("没有找到这个工单。")
        return ticket

    async def messages(self, ticket: Ticket, *, include_notes: bool = True) -> list[TicketMessage]:
        """The ticket's conversation, oldest first."""
        async with self._read() as db:
            query = select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
            if not include_notes:
                query = query.where(TicketMessage.sender != "note")
            return list((await db.exec(query.order_by(col(TicketMessage.id)))).all())

    async def find(self, *, windows: list[str] | None, status: str | None = None, staff: str | None = None,
                   limit: int = 200, number: str | None = None) -> list[Ticket]:
        """Tickets for the console: waiting ones first come first, others newest first."""
        query = select(Ticket)
        if number:
            query = query.where(Ticket.number == number.upper())
        if windows is not None:
            query = query.where(col(Ticket.window).in_(windows))
        if status:
            query = query.where(Ticket.status == status)
        if staff:
            query = query.where(Ticket.staff == staff)
        order = col(Ticket.queued_at) if status == "waiting" else col(Ticket.id).desc()
        async with self._read() as db:
            return list((await db.exec(query.order_by(order).limit(limit))).all())

    async def queues(self, windows: list[str]) -> list[dict[str, Any]]:
        """Per window: how many wait, the longest wait in seconds, how many are being served."""
        await self._ensure_queues()
        now = self._clock().timestamp()
        result = []
        for window in windows:
            waiting = int(await self._redis.zcard(key(Prefix.QUEUE, window)))
            first = await self._redis.zrange(key(Prefix.QUEUE, window), 0, 0, withscores=True)
            async with self._read() as db:
                serving = int((await db.exec(select(func.count()).where(Ticket.window == window,
                                                                        Ticket.status == "serving"))).one())
            result.append({"window": window, "waiting": waiting, "serving": serving,
                           "longest_wait_seconds": int(now - float(first[0][1])) if first else 0})
        return result

    async def claim(self, ticket_id: int, staff: str) -> Ticket:
        """Take a waiting ticket. Exactly one of two simultaneous claims succeeds; the other gets Conflict."""
        now = self._clock()
        async with self._db() as db:
            result = await db.exec(update(Ticket).where(col(Ticket.id) == ticket_id, col(Ticket.status) == "waiting")
                                   .values(status="serving", staff=staff, claimed_at=now))  # type: ignore[call-overload]
            await db.commit()
        if result.rowcount != 1:
            await self.get(ticket_id)  # NotFound when there is no such ticket
            raise Conflict("这个工单已被其他工作人员接走了。", code="already_claimed")
        ticket = await self.get(ticket_id)
        await self._redis.zrem(key(Prefix.QUEUE, ticket.window), str(ticket_id))
        await self._add_message(ticket, "system", f"{staff} 接单")
        await self._announce(ticket, TicketChange("claimed", data={"staff": staff}))
        return ticket

    async def reply(self, ticket_id: int, staff: str, text: str) -> TicketMessage:
        """A staff message to the citizen (only by whoever serves the ticket)."""
        ticket = await self._serving(ticket_id, staff)
        message = await self._add_message(ticket, "staff", _text(text), staff=staff)
        await self._announce(ticket, TicketChange("message", message.text, {"sender": "staff", "staff": staff}))
        return message

    async def note(self, ticket_id: int, staff: str, text: str) -> TicketMessage:
        """An internal note: other staff see it, the citizen never does."""
        ticket = await self.get(ticket_id)
        message = await self._add_message(ticket, "note", _text(text), staff=staff)
        await self._announce(ticket, TicketChange("note", message.text, {"sender": "note", "staff": staff}))
        return message

    async def transfer(self, ticket_id: int, staff: str, window: str, note: str = "") -> Ticket:
        """Move the ticket to another window's queue with its whole history; it keeps its place in time."""
        if window not in ALL_WINDOWS:
            raise InvalidInput(f"没有“{window}”这个窗口。", code="unknown_window")
        ticket = await self.get(ticket_id)
        if ticket.status == "closed":
            raise Conflict("工单已结束。", code="ticket_closed")
        old = ticket.window
        async with self._db() as db:
            db_ticket = await db.get(Ticket, ticket_id)
            assert db_ticket is not None
            db_ticket.window, db_ticket.status, db_ticket.staff, db_ticket.claimed_at = window, "waiting", None, None
            db.add(db_ticket)
            await db.commit()
            await db.refresh(db_ticket)
        await self._redis.zrem(key(Prefix.QUEUE, old), str(ticket_id))
        await self._enqueue(db_ticket)
        await self._add_message(db_ticket, "system", f"{staff} 从{old}转至{window}" + (f"：{note}" if note else ""))
        await self._announce(db_ticket, TicketChange("transferred", note, {"from": old, "to": window}))
        return db_ticket

    async def release(self, ticket_id: int, staff: str | None, reason: str = "") -> Ticket:
        """Put a served ticket back at its place in the queue (staff went offline, or chose to)."""
        async with self._db() as db:
            result = await db.exec(update(Ticket).where(col(Ticket.id) == ticket_id, col(Ticket.status) == "serving")
                                   .values(status="waiting", staff=None, claimed_at=None))  # type: ignore[call-overload]
            await db.commit()
        if result.rowcount != 1:
            await self.get(ticket_id)
            raise Conflict("这个工单不在服务中。", code="not_serving")
        ticket = await self.get(ticket_id)
        await self._enqueue(ticket)
        await self._add_message(ticket, "system", reason or f"{staff} 退回队列")
        await self._announce(ticket, TicketChange("released", reason))
        return ticket

    async def close(self, ticket_id: int, staff: str, note: str = "") -> Ticket:
        """End the service; the citizen is asked to rate it."""
        return await self._close(ticket_id, staff, note=note, kind="closed")

    async def heartbeat(self, staff: str, windows: list[str]) -> None:
        """A console is open: the staff member counts as online for their windows."""
        expires = time.time() + PRESENCE_SECONDS
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key(Prefix.PRESENCE, staff), jsoncodec.dumps(windows), ex=PRESENCE_SECONDS)
            for window in windows:
                # Each window's own index: finding who is online used to SCAN every key in Redis (sessions and
                # dedupe entries included), a cost that grew with the number of citizens, on every 转人工.
                pipe.zadd(key(Prefix.WINDOW_PRESENCE, window), {staff: expires})
                pipe.expire(key(Prefix.WINDOW_PRESENCE, window), PRESENCE_SECONDS)
            await pipe.execute()

    async def online_staff(self, window: str) -> list[str]:
        """Who has a console open for this window, by name."""
        index = key(Prefix.WINDOW_PRESENCE, window)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(index, "-inf", time.time())
            pipe.zrange(index, 0, -1)
            _, candidates = await pipe.execute()
        if not candidates:
            return []
        # The index may still name someone whose console closed or who changed windows since: their own
        # heartbeat key has the last word.
        latest = await self._redis.mget([key(Prefix.PRESENCE, name) for name in candidates])
        return sorted(name for name, windows in zip(candidates, latest, strict=True)
                      if windows and window in jsoncodec.loads(windows))

    async def requeue_abandoned(self) -> list[int]:
        """Served tickets whose staff member's console has gone quiet go back to the queue."""
        async with self._read() as db:
            serving = list((await db.exec(select(Ticket).where(Ticket.status == "serving"))).all())
        back = []
        for ticket in serving:
            if ticket.staff and not await self._redis.exists(key(Prefix.PRESENCE, ticket.staff)):
                with contextlib.suppress(Conflict):  # claimed back or closed in the meantime
                    await self.release(ticket.id or 0, None, reason=f"{ticket.staff} 已离线，工单退回队列")
                    back.append(ticket.id or 0)
        return back

    async def auto_assign(self, window: str) -> list[int]:
        """With auto-assignment on, hand waiting tickets (oldest first) to the least busy online staff of
        the window while someone is under capacity. Returns the ticket ids assigned.
        """
        if self._auto_capacity <= 0:
            return []
        assigned: list[int] = []
        staff = await self.online_staff(window)
        if not staff:
            return assigned
        async with self._read() as db:
            rows = (await db.exec(select(Ticket.staff, func.count()).where(col(Ticket.staff).in_(staff),
                                                                          Ticket.status == "serving")
                                  .group_by(Ticket.staff))).all()
        load = {name: 0 for name in staff} | {str(name): int(n) for name, n in rows}
        for ticket in await self.find(windows=[window], status="waiting", limit=len(staff) * self._auto_capacity):
            name = min(load, key=lambda s: (load[s], s))
            if load[name] >= self._auto_capacity:
                break
            try:
                await self.claim(ticket.id or 0, name)
            except Conflict:
                continue  # someone claimed it by hand meanwhile
            load[name] += 1
            assigned.append(ticket.id or 0)
        return assigned

    # ---- plumbing -----------------------------------------------------------------------------------

    async def _serving(self, ticket_id: int, staff: str) -> Ticket:
        ticket = await self.get(ticket_id)
        if ticket.status != "serving" or ticket.staff != staff:
            raise Conflict("请先接单；只有接单的工作人员可以回复。", code="not_your_ticket")
        return ticket

    async def _close(self, ticket_id: int, actor: str, *, note: str, kind: str) -> Ticket:
        # One statement in autocommit: not a session's BEGIN, SELECT, UPDATE, COMMIT and reload.
        params = {"ticket_id": ticket_id, "closing_at": self._clock(), "closing_actor": actor}
        async with self._single.connect() as conn:
            row = (await conn.execute(_CLOSE, params)).first()
            await conn.commit()  # SQLite has begun a transaction (PostgreSQL, in autocommit, has not)
        if row is None:
            if await self._ticket_by_id(ticket_id) is None:
                raise NotFound("没有找到这个工单。")
            raise Conflict("工单已结束。", code="ticket_closed")
        ticket = stored(Ticket, row._mapping)
        line = "市民结束了服务" if kind == "left" else f"{actor} 结束服务" + (f"：{note}" if note else "")
        # Out of the queue and the closing line at once: one waits on Redis while the other waits on SQL.
        await asyncio.gather(self._dequeue(ticket), self._add_message(ticket, "system", line))
        await self._announce(ticket, TicketChange(kind, note))
        await self.auto_assign(ticket.window)
        return ticket

    async def _add_message(self, ticket: Ticket, sender: str, text: str, staff: str | None = None) -> TicketMessage:
        assert ticket.id is not None and sender in SENDERS
        values = {"ticket_id": ticket.id, "sender": sender, "text": text[:MAX_TEXT], "staff": staff,
                  "created_at": self._clock()}
        async with self._single.connect() as conn:  # one INSERT … RETURNING in autocommit
            row = (await conn.execute(_ADD_MESSAGE, values)).one()
            await conn.commit()
        return stored(TicketMessage, row._mapping)

    async def _enqueue(self, ticket: Ticket, *, mark_user: bool = False) -> None:
        """Put the ticket in its window's queue and, with `mark_user`, record it as its user's open ticket."""
        await self._ensure_queues()
        async with self._redis.pipeline(transaction=False) as pipe:  # one round trip
            pipe.zadd(key(Prefix.QUEUE, ticket.window), {str(ticket.id): ticket.queued_at.timestamp()})
            if mark_user:
                pipe.set(key(Prefix.USER_TICKET, ticket.user_id), str(ticket.id))
            await pipe.execute()

    async def _dequeue(self, ticket: Ticket) -> None:
        """A closed ticket leaves its window's queue and stops being its user's open ticket."""
        async with self._redis.pipeline(transaction=False) as pipe:  # one round trip
            pipe.zrem(key(Prefix.QUEUE, ticket.window), str(ticket.id))
            pipe.delete(key(Prefix.USER_TICKET, ticket.user_id))
            await pipe.execute()

    async def _ensure_queues(self) -> None:
        """Rebuild every window's queue from SQL once after Redis lost them (a flush, a new server)."""
        if await self._redis.set(_QUEUES_BUILT, "1", nx=True):
            await self._rebuild_queues()

    async def _rebuild_queues(self) -> None:
        async with self._read() as db:
            waiting = (await db.exec(select(Ticket).where(Ticket.status == "waiting"))).all()
        by_window: dict[str, dict[str, float]] = {}
        for ticket in waiting:
            by_window.setdefault(ticket.window, {})[str(ticket.id)] = ticket.queued_at.timestamp()
        for window, members in by_window.items():
            await self._redis.zadd(key(Prefix.QUEUE, window), members)  # type: ignore[arg-type]
        if waiting:
            log.info("rebuilt the live queues from SQL: %d waiting tickets", len(waiting))

    async def _announce(self, ticket: Ticket, change: TicketChange) -> None:
        await self._listeners.tell(lambda listener: listener.ticket_changed(ticket, change),
                                   f"ticket {ticket.id} {change.kind}")


def _text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput("缺少字段 text。", code="missing_field")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"内容不能超过 {MAX_TEXT} 个字。", code="field_too_long")
    return text

