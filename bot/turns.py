"""The turn log in SQL: what was said and answered, for staff at handoff and for KB editors."""

from __future__ import annotations

import logging

from sqlalchemy import Table, insert
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.messages import Inbound, Reply
from bot.models import Turn
from core.db import SessionFactory
from core.logging import mask_id_numbers
from intents.base import Parse

log = logging.getLogger("bot.turns")
TURNS: Table = Turn.__table__  # type: ignore[attr-defined]
WRITTEN = [c.name for c in TURNS.columns if c.name != "id"]


class TurnLog:
    """Writes turns; a second write of the same (user, msg_id) is refused and the first one returned."""

    def __init__(self, db: SessionFactory) -> None:
        self._db = db
        engine = db.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("TurnLog needs a session factory bound to an AsyncEngine")
        self._engine = engine

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
        # Core statements on a connection, not the ORM's unit of work: this runs on every turn, and the ORM's
        # session, flush, identity map and snapshots cost more than the write itself (bench/RESULTS.md, issue 9).
        values = {name: getattr(turn, name) for name in WRITTEN}
        async with self._engine.connect() as conn:
            try:
                result = await conn.execute(insert(TURNS).values(**values))
                await conn.commit()
            except IntegrityError:
                await conn.rollback()
                log.info("message %s of %s was already processed", inbound.msg_id, inbound.channel)
                return None
        turn.id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        return turn

    async def find(self, user_id: str, msg_id: str) -> Turn | None:
        """The logged turn of this message id, if it was processed."""
        query = sa_select(TURNS).where(TURNS.c.user_id == user_id, TURNS.c.msg_id == msg_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return Turn(**row._mapping) if row is not None else None

    async def recent(self, user_id: str, limit: int = 20) -> list[Turn]:
        """The user's last turns, oldest first."""
        async with self._db() as db:
            rows = (await db.exec(
                select(Turn).where(Turn.user_id == user_id).order_by(Turn.id.desc()).limit(limit)  # type: ignore[union-attr]
            )).all()
        return list(reversed(rows))
