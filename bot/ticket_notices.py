"""Turns ticket changes into messages: the staff reply, claim, transfer and close to the citizen's chat,
queue positions to the others waiting at that window, and every change to the staff console.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.flows.feedback import rating_buttons
from bot.messages import Reply
from bot.outbox import Outbox
from bot.texts import Texts
from core import jsoncodec
from core.keys import Prefix, key
from handoff.staff import StaffService
from handoff.tickets import Ticket, TicketChange, TicketService

# Waiting citizens told of their new place when the queue moves; the rest hear on their next message.
POSITION_UPDATES = 20


class TicketNotices:
    """A TicketListener for the citizen's channel (through the outbox) and the staff console."""

    def __init__(self, outbox: Outbox, redis: aioredis.Redis, texts: Texts, tickets: TicketService,
                 staff: StaffService) -> None:
        self._outbox = outbox
        self._staff = staff
        self._redis = redis
        self._texts = texts
        self._tickets = tickets

    async def ticket_changed(self, ticket: Ticket, change: TicketChange) -> None:
        """Tell the citizen what concerns them, the queue its new positions, and the console everything."""
        texts = self._texts
        user = ticket.user_id
        if change.kind == "claimed":
            shown = await self._staff.shown_name(change.data["staff"])  # the login name stays in the console
            claimed = texts.get("handoff_claimed", staff=shown) if shown else texts.get("handoff_claimed_unnamed")
            await self._outbox.push(user, [Reply(claimed)], "staff")
        elif change.kind == "message" and change.data.get("sender") == "staff":
            await self._outbox.push(user, [Reply(change.text)], "staff")
        elif change.kind in ("transferred", "released"):
            position = await self._tickets.position(ticket) or 1
            await self._outbox.push(user, [Reply(texts.get(f"handoff_{change.kind}", window=ticket.window,
                                                           place=texts.queue_place(position - 1)))], "system")
        elif change.kind == "closed":
            replies = [Reply(texts.get("handoff_closed_by_staff"))]
            if ticket.claimed_at is not None:
                replies.append(Reply(texts.get("handoff_rate"), buttons=rating_buttons(ticket.number)))
            await self._outbox.push(user, replies, "staff")
        if change.kind in ("claimed", "closed", "left", "transferred"):
            await self._positions(ticket.window)
        event = {"type": "ticket", "id": ticket.id, "number": ticket.number, "kind": change.kind,
                 "window": ticket.window, "status": ticket.status, "staff": ticket.staff,
                 "sender": change.data.get("sender")}
        await self._redis.publish(key(Prefix.STAFF_EVENTS), jsoncodec.dumps(event))

    async def _positions(self, window: str) -> None:
        waiting = await self._tickets.find(windows=[window], status="waiting", limit=POSITION_UPDATES)
        texts = self._texts
        notices = [(ticket.user_id, [Reply(texts.get("handoff_moved", place=texts.queue_place(ahead)))])
                   for ahead, ticket in enumerate(waiting)]
        await self._outbox.push_many(notices, "system")
