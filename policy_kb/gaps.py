"""KB gaps (否定备案): questions the bot could not answer, counted so the KB editors see what to add."""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import select

from core.db import SessionFactory, single_statement_engine, upsert_insert, utcnow
from core.logging import mask_personal_data
from core.text import normalise
from policy_kb.models import KbGap

GAPS: Table = KbGap.__table__  # type: ignore[attr-defined]


class GapLog:
    """Records unanswered questions, one row per distinct normalised question."""

    def __init__(self, db: SessionFactory) -> None:
        self._db = db
        self._engine = single_statement_engine(db)

    async def record(self, question: str, kind: str) -> None:
        """Count one more occurrence of this question (personal data masked before it is stored).

        One statement, an insert that counts on when the question is there already: it runs in a conversation's
        turn (the fallback's, often), where a read, an ORM object and a commit cost several times more (issue 9).
        Two workers recording the same new question at once both count.
        """
        example = mask_personal_data(question.strip())[:500]
        query = normalise(example)[:200]
        if not query:
            return
        now = utcnow()
        upsert = (upsert_insert(self._engine.dialect, GAPS)
                  .values(query=query, example=example, kind=kind, count=1, first_seen=now, last_seen=now)
                  .on_conflict_do_update(index_elements=[GAPS.c.query],
                                         set_={"count": GAPS.c.count + 1, "last_seen": now}))
        async with self._engine.begin() as connection:
            await connection.execute(upsert)

    async def top(self, limit: int = 50, kind: str | None = None) -> list[KbGap]:
        """The most frequent unanswered questions."""
        async with self._db() as db:
            query = select(KbGap)
            if kind:
                query = query.where(KbGap.kind == kind)
            query = query.order_by(KbGap.count.desc(), KbGap.last_seen.desc()).limit(limit)  # type: ignore[attr-defined]
            return list((await db.exec(query)).all())
