"""SQL tables of 办不成事 (unresolved-matter) cases: the case itself and its append-only event trail."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapper
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from core.phones import mask_phone

Category = Literal["办不了", "很难办", "不给办"]
CATEGORIES: tuple[Category, ...] = ("办不了", "很难办", "不给办")
Complexity = Literal["simple", "complex", "impossible"]
COMPLEXITIES: tuple[Complexity, ...] = ("simple", "complex", "impossible")
Status = Literal["accepted", "classified", "transferred", "resolved", "closed", "withdrawn"]
OPEN_STATUSES: tuple[Status, ...] = ("accepted", "classified", "transferred")
Light = Literal["green", "yellow", "red"]


class Case(SQLModel, table=True):
    """One 办不成事 case (受理 → 分类 → 转办 → 办结 → 反馈). The deadline is derived from `accepted_at`,
    `days` and the working days spent paused; it is stored so lists and the SLA monitor can query it.
    """

    __tablename__ = "case"
    # (user_id, id), not user_id alone: "a user's latest …" (ORDER BY id DESC LIMIT) must not walk the whole
    # table backwards by primary key, which PostgreSQL chose for users with no rows at all (issue 9's soak).
    __table_args__ = (Index("ix_case_user_latest", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_no: str = Field(max_length=32, unique=True)
    channel: str = Field(max_length=16)
    user_id: str | None = Field(default=None, max_length=128)
    phone: str = Field(max_length=20, index=True)
    name: str | None = Field(default=None, max_length=64)
    item_code: str | None = Field(default=None, max_length=64)
    item_name: str = Field(max_length=200)
    where_when: str = Field(default="", sa_column=Column(Text, nullable=False))
    happened: str = Field(sa_column=Column(Text, nullable=False))
    wants: str = Field(default="", sa_column=Column(Text, nullable=False))
    category: str = Field(max_length=8)
    complexity: str = Field(max_length=16)
    days: int
    window: str = Field(max_length=32, index=True)
    department: str = Field(max_length=64)
    status: str = Field(max_length=16, index=True)
    light: str = Field(default="green", max_length=8)
    escalated: bool = False
    accepted_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    due_date: date
    due_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    warn_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    provisional: bool = False
    paused_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    paused_days: int = 0
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    result: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    rating: int | None = None
    fingerprint: str = Field(max_length=64, index=True)
    request_key: str | None = Field(default=None, max_length=160, unique=True)

    @property
    def is_open(self) -> bool:
        """Still being worked (not resolved or closed)."""
        return self.status in OPEN_STATUSES

    def staff_json(self) -> dict[str, Any]:
        """Everything about the case, for authorised staff."""
        return {**self.public_json(), "phone": self.phone, "name": self.name, "user_id": self.user_id,
                "channel": self.channel, "escalated": self.escalated}

    def public_json(self) -> dict[str, Any]:
        """What the citizen who filed it may see (their own phone only masked)."""
        return {"case_no": self.case_no, "status": self.status, "category": self.category,
                "complexity": self.complexity, "item_code": self.item_code, "item_name": self.item_name,
                "where_when": self.where_when, "happened": self.happened, "wants": self.wants,
                "window": self.window, "department": self.department, "days": self.days,
                "accepted_at": self.accepted_at.isoformat(), "due_date": self.due_date.isoformat(),
                "due_at": self.due_at.isoformat(), "provisional": self.provisional, "light": self.light,
                "paused": self.paused_since is not None, "result": self.result, "rating": self.rating,
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                "closed_at": self.closed_at.isoformat() if self.closed_at else None,
                "phone_masked": mask_phone(self.phone)}


class CaseEvent(SQLModel, table=True):
    """One step in a case's history: who did what, when, and why. Rows are only ever appended: the ORM
    refuses updates and deletes, and a database trigger refuses UPDATE (DELETE stays possible for
    data-retention purges).
    """

    __tablename__ = "case_event"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column=Column(Integer, ForeignKey("case.id"), nullable=False, index=True))
    kind: str = Field(max_length=24)
    actor: str = Field(max_length=80, description="citizen, system, or staff:<username>")
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    public: bool = Field(default=True, description="shown to the citizen in their case history")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))

    def to_json(self) -> dict[str, Any]:
        """The event as the API shows it."""
        return {"kind": self.kind, "actor": self.actor, "note": self.note, "data": self.data,
                "created_at": self.created_at.isoformat()}


class CaseFollower(SQLModel, table=True):
    """Another chat of the case's citizen: the same complaint filed again from a new chat (the same phone and
    words), or the case's phone given there to look it up. That chat lists the case under 进度, may urge,
    supplement, withdraw and rate it, and is told of its progress like the chat it was filed from.
    """

    __tablename__ = "case_follower"
    __table_args__ = (UniqueConstraint("case_id", "user_id", name="uq_case_follower"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column=Column(Integer, ForeignKey("case.id"), nullable=False, index=True))
    user_id: str = Field(max_length=128, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class AppendOnlyError(RuntimeError):
    """Someone tried to change or delete a case event."""


def _refuse_change(_mapper: Mapper[Any], _connection: Any, target: CaseEvent) -> None:
    raise AppendOnlyError(f"case events are append-only (event {target.id})")


event.listen(CaseEvent, "before_update", _refuse_change)
event.listen(CaseEvent, "before_delete", _refuse_change)
