"""KB gaps (否定备案): questions the bot could not answer, counted so the KB editors see what to add."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from core.db import SessionFactory, utcnow
from core.logging import mask_personal_data
from core.text import normalise
from policy_kb.models import KbGap


class GapLog:
    """Records unanswered questions, one row per distinct normalised question."""

    def __init__(self, db: SessionFactory) -> None:
        self._db = db

    async def record(self, question: str, kind: str) -> None:
        """Count one more occurrence of this question (personal data masked before it is stored)."""
        example = mask_personal_data(question.strip())[:500]
        query = normalise(example)[:200]
        if not query:
            return
        for _ in range(2):  # a concurrent first insert of the same question: retry as an update
            async with self._db() as db:
                row = (await db.exec(select(KbGap).where(KbGap.query == query))).first()
                if row is None:
                    db.add(KbGap(query=query, example=example, kind=kind))
                else:
                    row.count += 1
                    row.last_seen = utcnow()
                    db.add(row)
                try:
                    await db.commit()
                    return
                except IntegrityError:
                    await db.rollback()

    async def top(self, limit: int = 50, kind: str | None = None) -> list[KbGap]:
        """The most frequent unanswered questions."""
        async with self._db() as db:
            query = select(KbGap)
            if kind:
                query = query.where(KbGap.kind == kind)
            query = query.order_by(KbGap.count.desc(), KbGap.last_seen.desc()).limit(limit)  # type: ignore[attr-defined]
            return list((await db.exec(query)).all())
