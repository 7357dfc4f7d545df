"""好差评 (service evaluations): a 1–5 rating and a comment per finished service. A rating of 不满意 or
worse opens a follow-up for a supervisor (DESIGN §4).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel, col, select

from core.db import SessionFactory, UTCDateTime, read_sessions, utcnow
from core.errors import Conflict, InvalidInput, NotFound

LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
FOLLOW_UP_AT_OR_BELOW = 2


class Evaluation(SQLModel, table=True):
    """One rating of one service (a case, a ticket, a pre-check) by the person served."""

    __tablename__ = "evaluation"
    __table_args__ = (UniqueConstraint("service", "ref", name="uq_evaluation_service_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    service: str = Field(max_length=16, description="case, ticket or precheck")
    ref: str = Field(max_length=64, description="the case number, ticket id or pre-check number")
    user_id: str | None = Field(default=None, max_length=128, index=True)
    window: str = Field(default="", max_length=32)
    rating: int
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    follow_up: bool = Field(default=False, index=True, description="不满意 or worse: a supervisor must follow up")
    followed_up_by: str | None = Field(default=None, max_length=80)
    followed_up_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    follow_up_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))

    def to_json(self) -> dict[str, Any]:
        """The evaluation as the staff API shows it."""
        return {"id": self.id, "service": self.service, "ref": self.ref, "window": self.window,
                "rating": self.rating, "level": LEVELS[self.rating], "comment": self.comment,
                "follow_up": self.follow_up, "followed_up_by": self.followed_up_by,
                "followed_up_at": self.followed_up_at.isoformat() if self.followed_up_at else None,
                "follow_up_note": self.follow_up_note, "created_at": self.created_at.isoformat()}


class EvaluationStore:
    """Stores ratings (one per service) and the supervisors' follow-ups."""

    def __init__(self, db: SessionFactory) -> None:
        self._db = db
        self._read = read_sessions(db)  # reads without BEGIN/ROLLBACK round trips

    async def add(self, *, service: str, ref: str, user_id: str | None, window: str, rating: int,
                  comment: str = "") -> Evaluation:
        """Store a rating; a second rating of the same service is a Conflict."""
        if rating not in LEVELS:
            raise InvalidInput("评分须为 1–5。", code="invalid_field")
        row = Evaluation(service=service, ref=ref, user_id=user_id, window=window, rating=rating,
                         comment=comment.strip()[:1000], follow_up=rating <= FOLLOW_UP_AT_OR_BELOW)
        async with self._db() as db:
            if (await db.exec(select(Evaluation).where(Evaluation.service == service,
                                                       Evaluation.ref == ref))).first() is not None:
                raise Conflict("这项服务已经评价过了。", code="already_rated")
            db.add(row)
            await db.commit()
        return row

    async def follow_ups(self, *, pending_only: bool = True, limit: int = 100) -> list[Evaluation]:
        """Bad reviews for supervisors, newest first."""
        query = select(Evaluation).where(col(Evaluation.follow_up).is_(True))
        if pending_only:
            query = query.where(col(Evaluation.followed_up_at).is_(None))
        async with self._read() as db:
            return list((await db.exec(query.order_by(col(Evaluation.id).desc()).limit(limit))).all())

    async def mark_followed_up(self, evaluation_id: int, actor: str, note: str) -> Evaluation:
        """A supervisor records what was done about a bad review."""
        async with self._db() as db:
            row = await db.get(Evaluation, evaluation_id)
            if row is None or not row.follow_up:
                raise NotFound("没有这条待回访的评价。")
            row.followed_up_by, row.followed_up_at, row.follow_up_note = actor, utcnow(), note
            db.add(row)
            await db.commit()
            await db.refresh(row)
        return row

    async def of_services(self, service: str, refs: list[str]) -> dict[str, Evaluation]:
        """Ratings of these services by ref."""
        if not refs:
            return {}
        async with self._read() as db:
            query = select(Evaluation).where(Evaluation.service == service, col(Evaluation.ref).in_(refs))
            return {row.ref: row for row in (await db.exec(query)).all()}
