"""The turn log in SQL: what was said and answered, for staff at handoff and for KB editors."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.messages import Inbound, Reply
from bot.models import Turn
from core.db import SessionFactory
from core.logging import mask_id_numbers
from intents.base import Parse

log = logging.getLogger("bot.turns")


class TurnLog:
    """Writes turns; a second write of the same (user, msg_id) is refused and the first one returned."""

    def __init__(self, db: SessionFactory) -> None:
        self._db = db

    async def record(self, inbound: Inbound, parse: Parse, flow: str | None, replies: list[Reply]) -> Turn | None:
        """Store the turn. Returns None if this message id was already logged (a duplicate)."""
        turn = Turn(
            channel=inbound.channel,
            user_id=inbound.user_id,
            msg_id=inbound.msg_id,
            text=mask_id_numbers(inbound.text).replace("\x00", ""),  # 身份证号 never in clear; PostgreSQL refuses NUL
            intent=parse.intent,
            confidence=parse.confidence,
            flow=flow,
            replies=[r.to_json() for r in replies],
        )
        async with self._db() as db:
            db.add(turn)
            try:
                await db.commit()
            except IntegrityError:
                await db.rollback()
                log.info("message %s of %s was already processed", inbound.msg_id, inbound.channel)
                return None
        return turn

    async def find(self, user_id: str, msg_id: str) -> Turn | None:
        """The logged turn of this message id, if it was processed."""
        async with self._db() as db:
            return (await db.exec(select(Turn).where(Turn.user_id == user_id, Turn.msg_id == msg_id))).first()

    async def recent(self, user_id: str, limit: int = 20) -> list[Turn]:
        """The user's last turns, oldest first."""
        async with self._db() as db:
            rows = (await db.exec(
                select(Turn).where(Turn.user_id == user_id).order_by(Turn.id.desc()).limit(limit)  # type: ignore[union-attr]
            )).all()
        return list(reversed(rows))
