"""The turn log in SQL: what was said and answered, for staff at handoff and for KB editors."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.messages import Inbound, Reply
from bot.models import Turn
from core.db import SessionFactory, read_sessions, single_statement_engine, stored, upsert_insert, utcnow
from core.logging import mask_id_numbers
from intents.base import Parse

log = logging.getLogger("bot.turns")
TURNS: Table = Turn.__table__  # type: ignore[attr-defined]
# Built once: these run on every turn, and building a statement costs more than executing it.
_FIND = sa_select(TURNS).where(TURNS.c.user_id == bindparam("user_id"), TURNS.c.msg_id == bindparam("msg_id"))
_LAST_OF = (sa_select(TURNS.c.flow, TURNS.c.created_at).where(TURNS.c.user_id == bindparam("user_id"))
            .order_by(TURNS.c.id.desc()).limit(1))
MAX_BATCH = 200  # turns in one INSERT; far below SQLite's 32,766 bound parameters


class TurnLog:
    """Writes turns; a second write of the same (user, msg_id) is refused and the first one returned.

    Writes are group-committed: the turns that arrive while one transaction is being written go into the
    next one, a single multi-row INSERT and one commit. Each caller still waits for its own row to be
    committed, so nothing is answered before it is logged; under load a commit carries many turns instead
    of each turn paying its own (on SQLite, also its own turn at the single writer's lock).
    """

    def __init__(self, db: SessionFactory) -> None:
        self._db = db
        self._read = read_sessions(db)  # reads without BEGIN/ROLLBACK round trips
        engine = db.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("TurnLog needs a session factory bound to an AsyncEngine")
        # Lookups and the batch INSERT are one statement each: on PostgreSQL in autocommit, which saves the BEGIN
        # and COMMIT round trips around the write (a multi-row INSERT is atomic on its own).
        self._single = single_statement_engine(db)
        # ON CONFLICT DO NOTHING: a row already logged (another worker, Redis wiped) is left out of RETURNING,
        # so the rest of the batch still commits.
        self._insert = (upsert_insert(engine.dialect, TURNS).on_conflict_do_nothing()
                        .returning(TURNS.c.id, TURNS.c.user_id, TURNS.c.msg_id))
        self._pending: list[tuple[dict[str, Any], asyncio.Future[int | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, inbound: Inbound, parse: Parse, flow: str | None, replies: list[Reply]) -> int | None:
        """Store the turn and return its id, or None if this message id was already logged (a duplicate)."""
        # A plain row, not a Turn: validating a model per turn cost more than writing it (issue 9).
        values = {
            "channel": inbound.channel,
            "user_id": inbound.user_id,
            "msg_id": inbound.msg_id,
            # 身份证号 never in clear; PostgreSQL refuses NUL
            "text": mask_id_numbers(inbound.text).replace("\x00", ""),
            "intent": parse.intent,
            "confidence": parse.confidence,
            "flow": flow,
            "replies": [r.to_json() for r in replies],
            "created_at": utcnow(),
        }
        written: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.append((values, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name="turn-log-writer")
        turn_id = await written
        if turn_id is None:
            log.info("message %s of %s was already processed", inbound.msg_id, inbound.channel)
        return turn_id

    async def close(self) -> None:
        """Wait for the turns being written (at shutdown)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                # Core statements on a connection, not the ORM's unit of work: the ORM's session, flush, identity
                # map and snapshots cost more than the write itself (bench/RESULTS.md, issue 9).
                async with self._single.connect() as conn:
                    rows = (await conn.execute(self._insert, [values for values, _ in batch])).all()
                    await conn.commit()  # SQLite's; nothing is sent in autocommit
            except Exception as exc:  # every waiting turn fails with it (a 503 for a database outage)
                for _, written in batch:
                    if not written.done():
                        written.set_exception(exc)
                continue
            ids = {(row.user_id, row.msg_id): row.id for row in rows}
            for values, written in batch:
                if not written.done():  # its request may have been cancelled meanwhile
                    written.set_result(ids.pop((values["user_id"], values["msg_id"]), None))

    async def find(self, user_id: str, msg_id: str) -> Turn | None:
        """The logged turn of this message id, if it was processed."""
        async with self._single.connect() as conn:
            row = (await conn.execute(_FIND, {"user_id": user_id, "msg_id": msg_id})).first()
        return stored(Turn, row._mapping) if row is not None else None

    async def last_of(self, user_id: str) -> tuple[str | None, datetime] | None:
        """The flow and time of the user's last turn, if any (asked for every user without a session)."""
        async with self._single.connect() as conn:
            row = (await conn.execute(_LAST_OF, {"user_id": user_id})).first()
        return (row.flow, row.created_at) if row is not None else None

    async def recent(self, user_id: str, limit: int = 20) -> list[Turn]:
        """The user's last turns, oldest first."""
        async with self._read() as db:
            rows = (await db.exec(
                select(Turn).where(Turn.user_id == user_id).order_by(Turn.id.desc()).limit(limit)  # type: ignore[union-attr]
            )).all()
        return list(reversed(rows))


class LastTurn:
    """The flow and time of one user's last logged turn, read from SQL at most once per turn (if at all)."""

    def __init__(self, turns: TurnLog, user_id: str) -> None:
        self._turns = turns
        self._user_id = user_id
        self._read = False
        self._last: tuple[str | None, datetime] | None = None

    async def get(self) -> tuple[str | None, datetime] | None:
        """The last turn's (flow, created_at), or None if the user has none."""
        if not self._read:
            self._last = await self._turns.last_of(self._user_id)
            self._read = True
        return self._last
