"""预约办事 (appointments) and 帮办代办 (assisted service) in half-day slots per themed window, working days
only (the cases' calendar). Capacity per window and half-day is in `handoff/data/appointments.yml`; two
people taking the last place at once are settled by a Redis lock on the slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, func
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import SessionFactory, UTCDateTime, read_sessions, utcnow
from core.errors import Conflict, InvalidInput, NotFound
from core.keys import Prefix, key
from core.numbering import save_numbered
from core.yamlfile import YamlRules
from handoff.calendar import WorkCalendar

RULES_FILE = Path(__file__).parent / "data" / "appointments.yml"
Half = Literal["am", "pm"]
Kind = Literal["appointment", "assisted"]
MAX_ADDRESS_CHARS = 200
STAFF_LIST_LIMIT = 500  # one console page of bookings


class HalfDay(BaseModel):
    """A half-day's name and opening hours, as replies show them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    hours: str


class AppointmentRules(YamlRules):
    """How many places each window has per half-day and how far ahead one can book."""

    source: ClassVar[Path] = RULES_FILE
    days_ahead: int = Field(ge=1, le=30)
    default_capacity: int = Field(ge=1)
    capacity: dict[str, int]
    cue_words: tuple[str, ...]
    halves: dict[Half, HalfDay]
    come_in_words: frozenset[str]
    come_in_phrases: tuple[str, ...]
    address_marks: tuple[str, ...]

    def comes_in(self, text: str) -> bool:
        """Whether an answer to "where should staff come" means the citizen comes to the window ("不用上门，我们
        自己去").
        """
        return text in self.come_in_words or any(phrase in text for phrase in self.come_in_phrases)

    def is_address(self, text: str) -> bool:
        """Whether `text` reads as a visiting address ("幸福路 12 号 3 栋")."""
        return any(mark in text for mark in self.address_marks)

    def without_cues(self, text: str) -> str:
        """`text` with the booking words taken out (what is left may name the item)."""
        for word in sorted(self.cue_words, key=len, reverse=True):
            text = text.replace(word, "")
        return text.strip()

    def capacity_of(self, window: str) -> int:
        """Places per half-day at this window."""
        return self.capacity.get(window, self.default_capacity)


class Appointment(SQLModel, table=True):
    """One booked half-day slot (YY20261122-0001) for an item at its window."""

    __tablename__ = "appointment"

    id: int | None = SqlField(default=None, primary_key=True)
    number: str = SqlField(max_length=32, unique=True)
    user_id: str = SqlField(max_length=128, index=True)
    kind: str = SqlField(max_length=16, description="appointment (预约办事) or assisted (帮办代办)")
    item_code: str = SqlField(max_length=64)
    item_name: str = SqlField(max_length=200)
    window: str = SqlField(max_length=32)
    day: date = SqlField(index=True)
    half: str = SqlField(max_length=2)
    status: str = SqlField(default="booked", max_length=16, description="booked or cancelled")
    # 帮办代办: the number staff ring before the appointment, and where to go for someone who cannot come in
    phone: str | None = SqlField(default=None, max_length=32)
    address: str | None = SqlField(default=None, max_length=MAX_ADDRESS_CHARS)
    created_at: datetime = SqlField(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    cancelled_at: datetime | None = SqlField(default=None, sa_column=Column(UTCDateTime, nullable=True))

    def to_json(self) -> dict[str, Any]:
        """The booking as the API shows it."""
        return {"number": self.number, "kind": self.kind, "item_code": self.item_code, "item_name": self.item_name,
                "window": self.window, "day": self.day.isoformat(), "half": self.half, "status": self.status}

    def to_staff_json(self) -> dict[str, Any]:
        """The booking as the staff console shows it: with the contact phone and address (authorised staff only)."""
        return {**self.to_json(), "phone": self.phone, "address": self.address,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class Slot:
    """One bookable half-day and how many places are left."""

    day: date
    half: Half
    left: int


class AppointmentBook:
    """Offers free slots, books, cancels and lists a user's bookings."""

    def __init__(self, db: SessionFactory, redis: aioredis.Redis, calendar: WorkCalendar,
                 rules: AppointmentRules) -> None:
        self._db = db
        self._read = read_sessions(db)  # reads without BEGIN/ROLLBACK round trips
        self._redis = redis
        self.calendar = calendar
        self.rules = rules

    def days(self, today: date) -> list[date]:
        """The working days one can book: from the next working day, `days_ahead` of them."""
        days, day = [], today
        for _ in range(self.rules.days_ahead):
            day, _provisional = self.calendar.add_working_days(day, 1)
            days.append(day)
        return days

    async def slots(self, window: str, day: date) -> list[Slot]:
        """Both half-days of `day` at `window` with the places left."""
        capacity = self.rules.capacity_of(window)
        async with self._read() as db:
            return [Slot(day, half, capacity - await self._taken(db, window, day, half)) for half in ("am", "pm")]

    async def _taken(self, db: AsyncSession, window: str, day: date, half: str) -> int:
        query = select(func.count()).where(Appointment.window == window, Appointment.day == day,
                                           Appointment.half == half, Appointment.status == "booked")
        return int((await db.exec(query)).one())

    async def book(self, *, user_id: str, kind: Kind, item_code: str, item_name: str, window: str, day: date,
                   half: Half, today: date, phone: str | None = None, address: str | None = None) -> Appointment:
        """Book a place (帮办代办 with the citizen's phone and, to be visited, address); Conflict when the half-day
        is full, InvalidInput for a day that cannot be booked.
        """
        if day not in self.days(today) or half not in self.rules.halves:
            raise InvalidInput("只能预约今后几个工作日的上午或下午。", code="invalid_slot")
        capacity = self.rules.capacity_of(window)
        async with self._redis.lock(key(Prefix.SLOT_LOCK, window, day.isoformat(), half), timeout=10,
                                    blocking_timeout=10):

            async def build(db: AsyncSession, number: str) -> Appointment:
                if await self._taken(db, window, day, half) >= capacity:
                    raise Conflict("这个时段已约满，请换一个时间。", code="slot_full")
                booking = Appointment(number=number, user_id=user_id, kind=kind, item_code=item_code,
                                      item_name=item_name, window=window, day=day, half=half, phone=phone,
                                      address=address[:MAX_ADDRESS_CHARS] if address else None)
                db.add(booking)
                return booking

            return await save_numbered(self._db, Appointment.number, f"YY{today:%Y%m%d}-", build)

    async def cancel(self, number: str, user_id: str) -> Appointment:
        """Cancel the user's own booking (NotFound for anyone else's)."""
        async with self._db() as db:
            booking = (await db.exec(select(Appointment).where(Appointment.number == number.upper()))).first()
            if booking is None or booking.user_id != user_id:
                raise NotFound("没有找到这个预约号。")
            if booking.status != "booked":
                raise Conflict("这个预约已经取消了。", code="already_cancelled")
            booking.status, booking.cancelled_at = "cancelled", utcnow()
            db.add(booking)
            await db.commit()
            await db.refresh(booking)
        return booking

    async def upcoming(self, number: str, user_id: str, today: date) -> Appointment | None:
        """The user's own booking of this number, if it is still to come; None otherwise (not theirs, cancelled,
        past or unknown look the same).
        """
        async with self._read() as db:
            query = select(Appointment).where(Appointment.number == number.upper(), Appointment.user_id == user_id,
                                              Appointment.status == "booked", col(Appointment.day) >= today)
            return (await db.exec(query)).first()

    async def of_user(self, user_id: str, today: date, limit: int = 5) -> list[Appointment]:
        """The user's upcoming bookings, soonest first."""
        async with self._read() as db:
            query = (select(Appointment).where(Appointment.user_id == user_id, Appointment.status == "booked",
                                               col(Appointment.day) >= today)
                     .order_by(col(Appointment.day), col(Appointment.half)).limit(limit))
            return list((await db.exec(query)).all())

    async def for_windows(self, windows: list[str], first_day: date, last_day: date, *, kind: Kind | None = None,
                          include_cancelled: bool = False) -> list[Appointment]:
        """The bookings at `windows` from `first_day` to `last_day`, by day and half-day (the staff console)."""
        if not windows:
            return []
        async with self._read() as db:
            query = select(Appointment).where(col(Appointment.window).in_(windows),
                                              col(Appointment.day) >= first_day, col(Appointment.day) <= last_day)
            if kind is not None:
                query = query.where(Appointment.kind == kind)
            if not include_cancelled:
                query = query.where(Appointment.status == "booked")
            query = query.order_by(col(Appointment.day), col(Appointment.half), col(Appointment.id))
            return list((await db.exec(query.limit(STAFF_LIST_LIMIT))).all())
