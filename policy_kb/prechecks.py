"""Material pre-checks (材料预审): which materials a person has for an item, what is missing (named all at
once: 一次性告知), and whether 容缺受理 applies. Each result is a numbered record (YS20261122-0007) the front
desk can pull up, and only its owner can read over the API.

容缺受理 rule (DESIGN §4): it applies only when every main material is present and every missing required
material is marked deferrable; then the reply says what to supply later and by when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, Table, update
from sqlmodel import Field, SQLModel, col, select

from core.db import SessionFactory, UTCDateTime, read_sessions, stored, utcnow
from core.errors import NotFound
from core.numbering import insert_numbered
from policy_kb.schema import Material, ServiceItem

Decision = Literal["complete", "deferrable", "incomplete"]


class Precheck(SQLModel, table=True):
    """A stored pre-check result."""

    __tablename__ = "precheck"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    user_id: str = Field(max_length=128, index=True)
    item_code: str = Field(max_length=64)
    item_name: str = Field(max_length=200)
    have: list[int] = Field(sa_column=Column(JSON, nullable=False))
    missing: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    decision: str = Field(max_length=16)
    supply_by: date | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    # Pictures the person sent while the pre-check was recent (WeChat): [{"url", "media_id", "at"}], oldest first.
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False,
                                                                                   server_default="[]"))

    def to_json(self) -> dict[str, Any]:
        """The API view."""
        return {"number": self.number, "item_code": self.item_code, "item_name": self.item_name,
                "have": self.have, "missing": self.missing, "decision": self.decision,
                "supply_by": self.supply_by.isoformat() if self.supply_by else None,
                "created_at": self.created_at.isoformat(), "attachments": list(self.attachments or [])}


PRECHECKS: Table = Precheck.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Assessment:
    """What the materials a person has mean for their application."""

    missing_main: tuple[Material, ...]  # required and not deferrable: must be brought before acceptance
    missing_deferrable: tuple[Material, ...]  # required but 容缺: may follow after acceptance
    missing_optional: tuple[Material, ...]  # only in some situations (视情况提供)
    on_site: tuple[Material, ...] = ()  # not brought but made at the window: never missing

    @property
    def decision(self) -> Decision:
        """complete: everything there; deferrable: 容缺受理 applies; incomplete: main materials missing."""
        if self.missing_main:
            return "incomplete"
        return "deferrable" if self.missing_deferrable else "complete"


def assess(item: ServiceItem, have: set[int]) -> Assessment:
    """Sort the item's materials the person does not have (numbers are 1-based positions)."""
    not_had = [m for i, m in enumerate(item.materials, 1) if i not in have]
    missing = [m for m in not_had if not m.on_site]
    return Assessment(
        missing_main=tuple(m for m in missing if m.required and not m.deferrable),
        # 容缺 is of required materials: one needed only in some situations ("已婚的提交") is listed with those
        # situations, not to be supplied after acceptance by everyone
        missing_deferrable=tuple(m for m in missing if m.required and m.deferrable),
        missing_optional=tuple(m for m in missing if not m.required),
        on_site=tuple(m for m in not_had if m.on_site and m.required),
    )


def _missing(assessment: Assessment) -> list[dict[str, Any]]:
    """The stored form of what is missing, main materials first."""
    return [{"name": m.name, "notes": m.notes, "deferrable": m.deferrable, "required": m.required}
            for m in (*assessment.missing_main, *assessment.missing_deferrable, *assessment.missing_optional)]


class PrecheckStore:
    """Numbers and stores pre-checks; reads them back for their owner."""

    def __init__(self, db: SessionFactory) -> None:
        self._db = db
        self._read = read_sessions(db)  # reads without BEGIN/ROLLBACK round trips

    async def save(self, user_id: str, item: ServiceItem, have: set[int], assessment: Assessment,
                   supply_by: date | None, today: date) -> Precheck:
        """Store the result under the next number of the day (YS + date + sequence)."""
        # A Core insert, not the ORM: this runs in a conversation's turn, and building and flushing a model cost
        # more than the statements (issue 9). Every column is given, so no model default runs.
        values = {"user_id": user_id, "item_code": item.code, "item_name": item.name, "have": sorted(have),
                  "missing": _missing(assessment), "decision": assessment.decision, "supply_by": supply_by,
                  "created_at": utcnow(), "attachments": []}
        row = await insert_numbered(self._db, PRECHECKS, "number", f"YS{today:%Y%m%d}-", values)
        return stored(Precheck, row)

    async def update(self, number: str, user_id: str, item: ServiceItem, have: set[int], assessment: Assessment,
                     supply_by: date | None) -> Precheck | None:
        """The user's pre-check of this item under `number` with what they have now ("3也有了" right after its
        result: the same number, not a new one each time); None when the user has no such pre-check.
        """
        statement = (update(PRECHECKS)
                     .where(PRECHECKS.c.number == number, PRECHECKS.c.user_id == user_id,
                            PRECHECKS.c.item_code == item.code)
                     .values(have=sorted(have), missing=_missing(assessment), decision=assessment.decision,
                             supply_by=supply_by)
                     .returning(*PRECHECKS.c))
        async with self._db() as db:
            row = (await db.exec(statement)).mappings().first()
            await db.commit()
        return stored(Precheck, row) if row is not None else None

    async def get_for_owner(self, number: str, user_id: str) -> Precheck:
        """The pre-check if it belongs to this user; NotFound otherwise (unknown and foreign look the same)."""
        async with self._read() as db:
            record = (await db.exec(select(Precheck).where(Precheck.number == number))).first()
        if record is None or record.user_id != user_id:
            raise NotFound("没有找到这个预审单号。")
        return record

    async def latest_since(self, user_id: str, since: datetime) -> Precheck | None:
        """The user's newest pre-check made at or after `since`, if any."""
        async with self._read() as db:
            query = (select(Precheck).where(Precheck.user_id == user_id, col(Precheck.created_at) >= since)
                     .order_by(col(Precheck.id).desc()).limit(1))
            return (await db.exec(query)).first()

    async def attach(self, precheck_id: int, url: str, media_id: str, at: datetime | None = None) -> Precheck:
        """Add a picture to a pre-check's attachments (the caller keeps two adds for one record apart: the list is
        read and written back).
        """
        async with self._db() as db:
            record = await db.get(Precheck, precheck_id, with_for_update=True)
            if record is None:
                raise NotFound("没有找到这个预审单号。")
            entry = {"url": url, "media_id": media_id, "at": (at or utcnow()).isoformat()}
            record.attachments = [*(record.attachments or []), entry]  # a new list, so the JSON column is written
            db.add(record)
            await db.commit()
            await db.refresh(record)
            return record

    async def of_user(self, user_id: str, limit: int = 10) -> list[Precheck]:
        """The user's latest pre-checks."""
        async with self._read() as db:
            query = select(Precheck).where(Precheck.user_id == user_id).order_by(col(Precheck.id).desc()).limit(limit)
            return list((await db.exec(query)).all())
