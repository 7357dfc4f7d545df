"""Booking steps of the `guide` flow: 预约办事 and 帮办代办 for the item in context. Pick a working day, then
a half-day with places left; the booking gets a number (YY20261122-0001). "取消预约 YY…" cancels it and
"改约 YY…" books a new time and then cancels the old one.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date
from typing import Any

from bot.flows.base import TurnContext
from bot.messages import Button, Reply
from core.clock import today_local
from core.errors import Conflict, NotFound
from handoff.appointments import Half, Kind
from handoff.calendar import date_in_words
from policy_kb.schema import ServiceItem

KIND_BY_FIELD: dict[str, Kind] = {"appointment": "appointment", "assisted": "assisted"}
# "取消预约 YY…", or without the number when the user has one upcoming appointment (else they are listed).
MANAGE = re.compile(r"^(取消预约|改约)\s*(YY[0-9]{8}-[0-9]{4})?$", re.IGNORECASE)


def is_booking_answer(ctx: TurnContext, booking: dict[str, Any]) -> bool:
    """Whether the message picks one of the offered days or half-days."""
    return _chosen(ctx, booking) is not None


def _chosen(ctx: TurnContext, booking: dict[str, Any]) -> str | None:
    choices: dict[str, str] = booking.get("choices", {})
    if ctx.text in choices:
        return choices[ctx.text]
    if booking.get("step") == "day":  # "明天", "下周一", "11月25日"
        dates = [e.value for e in ctx.parse.entities if e.entity == "date"]
        return dates[0] if dates and dates[0] in choices.values() else None
    chosen = next((v for title, v in choices.items() if ctx.text and title.startswith(ctx.text)), None)
    return chosen or _half_named(ctx, set(choices.values()))


def _half_named(ctx: TurnContext, halves: set[str]) -> str | None:
    """The one half-day of `halves` the message names ("下午吧", "周五下午行不"), if exactly one."""
    names = ctx.services.appointments.rules.halves
    named = [half for half in halves if names[half].name in ctx.text]  # type: ignore[index]
    return named[0] if len(named) == 1 else None


def ask_again(ctx: TurnContext, booking: dict[str, Any]) -> list[Reply]:
    """The pending day or half-day question again (a bare 好的 or 嗯 picks neither)."""
    key = "appointment_pick_day_again" if booking["step"] == "day" else "appointment_pick_half_again"
    return [Reply(ctx.texts.get(key), buttons=tuple(Button(title, title) for title in booking["choices"]))]


async def start(ctx: TurnContext, item: ServiceItem, field: str, replaces: str | None = None) -> list[Reply]:
    """Offer the bookable days for the item."""
    book = ctx.services.appointments
    choices = {date_in_words(day): day.isoformat() for day in book.days(today_local())}
    kind = KIND_BY_FIELD[field]
    ctx.slots["booking"] = {"item": item.code, "kind": kind, "step": "day", "choices": choices,
                            "replaces": replaces}
    head = ctx.texts.get(f"{kind}_pick_day", name=item.name, window=item.window)
    return [Reply(head, buttons=tuple(Button(title, title) for title in choices))]


async def step(ctx: TurnContext, item: ServiceItem) -> list[Reply]:
    """Take the chosen day or half-day; book when both are known."""
    booking: dict[str, Any] = ctx.slots["booking"]
    value = _chosen(ctx, booking)
    assert value is not None
    book = ctx.services.appointments
    texts = ctx.texts
    if booking["step"] == "day":
        day = date.fromisoformat(value)
        open_slots = [s for s in await book.slots(item.window, day) if s.left > 0]
        if not open_slots:
            return [Reply(texts.get("appointment_day_full", day=date_in_words(day)),
                          buttons=tuple(Button(t, t) for t in booking["choices"]))]
        halves = book.rules.halves
        booking.update(step="half", day=value, choices={
            texts.get("appointment_half_button", name=halves[s.half].name, left=s.left): s.half for s in open_slots})
        half = _half_named(ctx, {s.half for s in open_slots})
        if half is not None:  # "周五下午": the day and the half-day in one message
            return await _book(ctx, item, booking, half)  # type: ignore[arg-type]
        return [Reply(texts.get("appointment_pick_half", day=date_in_words(day)),
                      buttons=tuple(Button(t, t) for t in booking["choices"]))]
    return await _book(ctx, item, booking, value)  # type: ignore[arg-type]


async def _book(ctx: TurnContext, item: ServiceItem, booking: dict[str, Any], half: Half) -> list[Reply]:
    book = ctx.services.appointments
    texts = ctx.texts
    day = date.fromisoformat(booking["day"])
    try:
        made = await book.book(user_id=ctx.inbound.user_id, kind=booking["kind"], item_code=item.code,
                               item_name=item.name, window=item.window, day=day, half=half, today=today_local())
    except Conflict:
        booking.update(step="day", choices={date_in_words(d): d.isoformat() for d in book.days(today_local())})
        return [Reply(texts.get("appointment_slot_taken"), buttons=tuple(Button(t, t) for t in booking["choices"]))]
    ctx.slots.pop("booking", None)
    if booking.get("replaces"):
        with contextlib.suppress(NotFound, Conflict):  # already cancelled: nothing to undo
            await book.cancel(booking["replaces"], ctx.inbound.user_id)
    info = book.rules.halves[half]
    text = texts.get(f"{made.kind}_booked", number=made.number, day=date_in_words(day), half=info.name,
                     hours=info.hours, location=item.location or f"{item.window}窗口")
    card = {"type": "appointment", **made.to_json()}
    return [Reply(text, card=card)]


async def manage(ctx: TurnContext, match: re.Match[str]) -> list[Reply]:
    """"取消预约 YY…" or "改约 YY…"; without the number, the one upcoming appointment (or a choice among them)."""
    action = match.group(1)
    book = ctx.services.appointments
    texts = ctx.texts
    if match.group(2) is None:
        upcoming = await book.of_user(ctx.inbound.user_id, today_local(), limit=10)
        if not upcoming:
            return [Reply(texts.get("appointment_none"))]
        if len(upcoming) > 1:
            halves = book.rules.halves
            buttons = tuple(Button(texts.get("appointment_choice", number=a.number, item=a.item_name,
                                             day=date_in_words(a.day), half=halves[a.half].name),  # type: ignore[index]
                                   f"{action} {a.number}") for a in upcoming)
            return [Reply(texts.get("appointment_which", action=action), buttons=buttons)]
        number = upcoming[0].number
    else:
        number = match.group(2).upper()
    if action == "取消预约":
        try:
            await book.cancel(number, ctx.inbound.user_id)
        except NotFound:
            return [Reply(texts.get("appointment_not_found"))]
        except Conflict:
            return [Reply(texts.get("appointment_already_cancelled", number=number))]
        return [Reply(texts.get("appointment_cancelled", number=number))]
    existing = await book.upcoming(number, ctx.inbound.user_id, today_local())
    item = ctx.services.kb.current.items.get(existing.item_code) if existing else None
    if existing is None or item is None:
        return [Reply(texts.get("appointment_not_found"))]
    ctx.slots["target"] = f"item:{item.code}"
    replies = await start(ctx, item, existing.kind, replaces=number)
    return [Reply(texts.get("appointment_rebook", number=number)), *replies]
