"""Booking steps of the `guide` flow: 预约办事 and 帮办代办 for the item in context. Pick a working day, then
a half-day with places left; 帮办代办 then asks for the phone staff will ring and an address if staff should
come to the citizen. The booking gets a number (YY20261122-0001). "取消预约 YY…" cancels it and
"改约 YY…" books a new time and then cancels the old one.
"""

from __future__ import annotations

import contextlib
import re
from datetime import date, timedelta
from typing import Any

from bot.flows.base import TurnContext
from bot.flows.smalltalk import day_asked
from bot.messages import Button, Reply
from core.clock import today_local
from core.errors import Conflict, NotFound
from core.phones import mask_phone, normalise_phone
from core.text import fold_width
from handoff.appointments import MAX_ADDRESS_CHARS, Appointment, Half, Kind
from handoff.calendar import date_in_words
from policy_kb.schema import ServiceItem

KIND_BY_FIELD: dict[str, Kind] = {"appointment": "appointment", "assisted": "assisted"}
# Digits enough to be meant as a phone number (a mistyped one is asked for again, not taken for another question).
PHONE_MIN_DIGITS = 5
VISIT_WORD = "上门"
# A phone number in a message, with the words that introduce it ("，电话13812345678").
PHONE_IN_TEXT = re.compile(r"[，,、;；\s]*(?:联系)?(?:电话|手机号?|号码)?(?:是|为|:|：)?\s*"
                           r"[+＋]?[0-9０-９][0-9０-９\-－ ]{6,}[0-9０-９]")
ADDRESS_LEAD = re.compile(r"^(?:我们?家|家里|我|我们)?(?:的)?(?:地址|住址|家)?(?:是|在|住在|:|：)\s*")
# "取消预约 YY…", or without the number when the user has one upcoming appointment (else they are listed).
# "要预约吗", "必须预约吗", "用不用预约", "不预约直接去行不行": whether one must book, not a request to.
ASKS_IF_NEEDED = re.compile(r"(?:要|需要|得|必须|一定要|非得)(?:先)?预约(?:吗|么|不|嘛)"
                            r"|(?:用不用|需不需要|要不要|是不是要)(?:先)?预约|不(?:用)?预约.{0,8}(?:行|可以|能办|能去)")
# "改到周三下午吧", "换成后天": moving the appointment just made.
MOVE_TO = re.compile(r"(?:改|换|挪|调)(?:到|成|在)")
MANAGE = re.compile(r"^(取消预约|改约)\s*(YY[0-9]{8}-[0-9]{4})?$", re.IGNORECASE)
# The same in plain words, of the user's upcoming appointment: "能改时间吗", "预约想换个时间", "把预约取消了吧".
CHANGE_IN_WORDS = re.compile(r"(?:改|换|调)(?:一下|一个|个|下)?(?:预约)?的?(?:时间|日子|日期|时段)|改期|改预约|"
                             r"预约.{0,4}(?:改|换|调)")
CANCEL_IN_WORDS = re.compile(r"取消(?:我的|这个|那个|掉)?预约|预约.{0,4}取消|退(?:掉)?预约|预约不要了|"
                             r"取消.{2,8}(?:那个|的)$")


def is_booking_answer(ctx: TurnContext, booking: dict[str, Any]) -> bool:
    """Whether the message picks one of the offered days or half-days, or answers the 帮办代办 questions: a
    phone number (a mistyped one too: it is asked for again) or where to meet.
    """
    if booking.get("step") == "phone":
        return _phone(ctx) is not None or sum(c.isdigit() for c in fold_width(ctx.inbound.text)) >= PHONE_MIN_DIGITS
    if booking.get("step") == "address":  # "需要上门" without the address is asked for it again
        rules = ctx.services.appointments.rules
        return rules.comes_in(ctx.text) or _address(ctx) is not None or VISIT_WORD in ctx.text \
            or _phone(ctx) is not None  # "电话说错了，是136…": the phone corrected
    return _chosen(ctx, booking) is not None or _day_not_offered(ctx, booking) is not None or changes_day(ctx, booking)


def moves_booked(ctx: TurnContext, slots: dict[str, Any]) -> bool:
    """"改到周三下午吧", "不对 改成后天上午" right after booking (nothing being booked now): the appointment just
    made, to another day.
    """
    if not (slots.get("booked") and not slots.get("booking") and MOVE_TO.search(ctx.text) and day_asked(ctx)):
        return False
    named = ctx.best(ctx.text, ["item"])  # "社保卡的改到周五": that item's booking, which may be an earlier one
    return named is None or named.key == slots.get("booked_item")


async def move_booked(ctx: TurnContext) -> list[Reply]:
    """Rebook the appointment made in this conversation for the day (and half) the message names; the old one
    is cancelled once the new one is made, as with "改约".
    """
    number = str(ctx.slots["booked"])
    book = ctx.services.appointments
    existing = await book.upcoming(number, ctx.inbound.user_id, today_local())
    item = ctx.services.kb.current.items.get(existing.item_code) if existing else None
    if existing is None or item is None:
        ctx.slots.pop("booked", None)
        return [Reply(ctx.texts.get("appointment_not_found"))]
    ctx.slots["target"] = f"item:{item.code}"
    return await start(ctx, item, existing.kind, replaces=existing, day_in_text=True)


def changes_day(ctx: TurnContext, booking: dict[str, Any]) -> bool:
    """"算了，改成后天吧" once the day is chosen: another day named while the half-day is asked for."""
    return booking.get("step") == "half" and bool(booking.get("days")) and day_asked(ctx) is not None \
        and _chosen(ctx, booking) is None


# A weekday said without 下/上/这/本 in front ("周三下午").
BARE_WEEKDAY = re.compile(r"(?<![下上这本])(?:周|星期|礼拜)[一二三四五六日天]")


def _day_not_offered(ctx: TurnContext, booking: dict[str, Any]) -> date | None:
    """"周六上午", "下周五", "今天下午" to the offered days: a day that cannot be booked, to say so and offer again."""
    if booking.get("step") != "day":
        return None
    named = day_asked(ctx)
    return named if named is not None and _offered_day(ctx, set(booking["choices"].values())) is None else None


def _offered_day(ctx: TurnContext, offered: set[str]) -> date | None:
    """The offered day the message names: "周三" said on a Wednesday whose slots are gone, or "周一" said after it,
    is next week's (a bare weekday was read as this week's, today or past).
    """
    named = day_asked(ctx)
    if named is None:
        return None
    if named.isoformat() in offered:
        return named
    later = named + timedelta(days=7)
    return later if BARE_WEEKDAY.search(ctx.text) and later.isoformat() in offered else None


def gives_contact(ctx: TurnContext, booking: dict[str, Any]) -> bool:
    """Whether the message gives the phone number or the address the 帮办代办 step asks for (or says the citizen
    comes to the window), as opposed to asking something ("上门要收费吗").
    """
    if booking.get("step") == "phone":
        return _phone(ctx) is not None
    return ctx.services.appointments.rules.comes_in(ctx.text) or _address(ctx) is not None


def _phone(ctx: TurnContext) -> str | None:
    found = normalise_phone(ctx.inbound.text)
    phones = (normalise_phone(str(e.value)) for e in ctx.parse.entities if e.entity == "phone")
    return found or next((p for p in phones if p), None)


def _address(ctx: TurnContext) -> str | None:
    text = PHONE_IN_TEXT.sub("", ctx.inbound.text)  # "幸福路8号，电话138…": the phone is not the address
    text = ADDRESS_LEAD.sub("", " ".join(text.split()))  # "家里地址是城关镇…" → "城关镇…"
    return text[:MAX_ADDRESS_CHARS] if ctx.services.appointments.rules.is_address(text) else None


def _chosen(ctx: TurnContext, booking: dict[str, Any]) -> str | None:
    choices: dict[str, str] = booking.get("choices", {})
    if ctx.text in choices:
        return choices[ctx.text]
    if booking.get("step") == "day":  # "明天", "下周一", "11月25日"
        named = _offered_day(ctx, set(choices.values()))
        return named.isoformat() if named is not None else None
    chosen = next((v for title, v in choices.items() if ctx.text and title.startswith(ctx.text)), None)
    return chosen or _half_named(ctx, set(choices.values()))


def _half_named(ctx: TurnContext, halves: set[str]) -> str | None:
    """The one half-day of `halves` the message names ("下午吧", "周五下午行不"), if exactly one."""
    names = ctx.services.appointments.rules.halves
    named = [half for half in halves if names[half].name in ctx.text]  # type: ignore[index]
    return named[0] if len(named) == 1 else None


def ask_again(ctx: TurnContext, booking: dict[str, Any]) -> list[Reply]:
    """The pending question again (a bare 好的 or 嗯 picks no day and gives no phone number)."""
    if booking["step"] == "phone":
        return [Reply(ctx.texts.get("assisted_ask_phone"))]
    if booking["step"] == "address":
        return _ask_address(ctx, again=True)
    key = "appointment_pick_day_again" if booking["step"] == "day" else "appointment_pick_half_again"
    return [Reply(ctx.texts.get(key), buttons=tuple(Button(title, title) for title in booking["choices"]))]


def _ask_address(ctx: TurnContext, *, again: bool = False) -> list[Reply]:
    come_in = ctx.texts.get("assisted_come_in_button")
    return [Reply(ctx.texts.get("assisted_ask_address_again" if again else "assisted_ask_address"),
                  buttons=(Button(come_in, come_in),))]


async def start(ctx: TurnContext, item: ServiceItem, field: str, replaces: Appointment | None = None,
                day_in_text: bool = False) -> list[Reply]:
    """Offer the bookable days for the item. A booking moved to a new time (`replaces`) keeps its phone and
    address, so they are not asked for again; its new day is read from the message only with `day_in_text` ("改约
    YY20261125-0001" holds digits, not a day).
    """
    book = ctx.services.appointments
    choices = {date_in_words(day): day.isoformat() for day in book.days(today_local())}
    kind = KIND_BY_FIELD[field]
    ctx.slots["booking"] = {"item": item.code, "kind": kind, "step": "day", "choices": choices, "days": choices,
                            "replaces": replaces.number if replaces is not None else None}
    if replaces is not None and replaces.phone:
        ctx.slots["booking"].update(phone=replaces.phone, address=replaces.address)
    head = ctx.texts.get(f"{kind}_pick_day", name=item.name, window=item.window)
    named = day_asked(ctx)
    reads_day = replaces is None or day_in_text
    if reads_day and _offered_day(ctx, set(choices.values())) is not None:  # "预约周五下午办社保卡": at once
        return await step(ctx, item)
    if reads_day and named is not None:  # a weekend, today, or too far ahead: say so, then offer
        head = ctx.texts.get("appointment_day_unavailable", day=date_in_words(named), count=len(choices)) + \
            "\n" + head
    if kind == "appointment" and ASKS_IF_NEEDED.search(ctx.text):  # "护照要预约吗": answered, then offered
        head = ctx.texts.get("appointment_not_required", name=item.name) + "\n" + head
    return [Reply(head, buttons=tuple(Button(title, title) for title in choices))]


async def step(ctx: TurnContext, item: ServiceItem) -> list[Reply]:
    """Take the chosen day or half-day, then for 帮办代办 the phone and where to meet; book when all are known."""
    booking: dict[str, Any] = ctx.slots["booking"]
    if booking["step"] == "phone":
        phone = _phone(ctx)
        if phone is None:
            return [Reply(ctx.texts.get("assisted_phone_invalid"))]
        booking.update(step="address", phone=phone)
        address = _address(ctx)
        if address is not None:  # "地址是城关镇幸福路8号，电话138…": both at once
            booking["address"] = address
            return await _book(ctx, item, booking, booking["half"])
        return _ask_address(ctx)
    if booking["step"] == "address":
        corrected = _phone(ctx)
        if corrected is not None and _address(ctx) is None:
            booking["phone"] = corrected
            return [Reply(ctx.texts.get("assisted_phone_changed", phone=mask_phone(corrected))), *_ask_address(ctx)]
        come_in = ctx.services.appointments.rules.comes_in(ctx.text)
        address = None if come_in else _address(ctx)
        if not come_in and address is None:
            return _ask_address(ctx, again=True)
        booking["address"] = address
        return await _book(ctx, item, booking, booking["half"])
    if changes_day(ctx, booking):  # back to the day, to take the one now named
        booking.update(step="day", choices=booking["days"])
    value = _chosen(ctx, booking)
    book = ctx.services.appointments
    texts = ctx.texts
    if value is None:  # a day not offered (is_booking_answer let nothing else through)
        day_named = _day_not_offered(ctx, booking)
        assert day_named is not None
        head = texts.get("appointment_day_unavailable", day=date_in_words(day_named), count=len(booking["choices"]))
        return [Reply(head + "\n" + texts.get("appointment_pick_day_again"),
                      buttons=tuple(Button(t, t) for t in booking["choices"]))]
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
            return await _half_chosen(ctx, item, booking, half)  # type: ignore[arg-type]
        return [Reply(texts.get("appointment_pick_half", day=date_in_words(day)),
                      buttons=tuple(Button(t, t) for t in booking["choices"]))]
    return await _half_chosen(ctx, item, booking, value)  # type: ignore[arg-type]


async def _half_chosen(ctx: TurnContext, item: ServiceItem, booking: dict[str, Any], half: Half) -> list[Reply]:
    """Book, or for 帮办代办 first ask for the phone staff will ring (unless a slot taken meanwhile sent the
    citizen back to choose again after they gave it).
    """
    if booking["kind"] == "assisted" and "address" not in booking:
        booking.update(step="phone", half=half)
        return [Reply(ctx.texts.get("assisted_ask_phone"))]
    return await _book(ctx, item, booking, half)


async def _book(ctx: TurnContext, item: ServiceItem, booking: dict[str, Any], half: Half) -> list[Reply]:
    book = ctx.services.appointments
    texts = ctx.texts
    day = date.fromisoformat(booking["day"])
    try:
        made = await book.book(user_id=ctx.inbound.user_id, kind=booking["kind"], item_code=item.code,
                               item_name=item.name, window=item.window, day=day, half=half, today=today_local(),
                               phone=booking.get("phone"), address=booking.get("address"))
    except Conflict:
        booking.update(step="day", choices={date_in_words(d): d.isoformat() for d in book.days(today_local())})
        return [Reply(texts.get("appointment_slot_taken"), buttons=tuple(Button(t, t) for t in booking["choices"]))]
    ctx.slots.pop("booking", None)
    ctx.slots["booked"] = made.number  # a "取消" of this conversation later says the appointment is still there
    ctx.slots["booked_item"] = item.code  # "社保卡的改到周五" moves it only if it is the 社保卡 one
    moved = ""
    if booking.get("replaces"):
        with contextlib.suppress(NotFound, Conflict):  # already cancelled: nothing to undo
            await book.cancel(booking["replaces"], ctx.inbound.user_id)
        moved = texts.get("appointment_moved", number=booking["replaces"]) + "\n"
    info = book.rules.halves[half]
    location = item.location or f"{item.window}窗口"
    where = texts.get("assisted_at_address", address=made.address) if made.address else \
        texts.get("assisted_at_window", location=location)
    text = moved + texts.get(f"{made.kind}_booked", number=made.number, day=date_in_words(day), half=info.name,
                             hours=info.hours, location=location, where=where, phone=mask_phone(made.phone or ""))
    card = {"type": "appointment", **made.to_json()}
    return [Reply(text, card=card)]


def managing(ctx: TurnContext, booking_now: bool) -> tuple[str, str | None] | None:
    """The action ("取消预约" or "改约") and the appointment number (None: not given) a message asks for: the command
    ("改约 YY…"), or the same in plain words ("能改时间吗", "改到下周一", "取消我的预约"); a day named while
    something is being booked (`booking_now`) answers that booking instead.
    """
    match = MANAGE.match(ctx.text)
    if match is not None:
        return match.group(1), match.group(2).upper() if match.group(2) else None
    if booking_now:
        return None
    if CANCEL_IN_WORDS.search(ctx.text):
        return "取消预约", None
    if CHANGE_IN_WORDS.search(ctx.text) or (MOVE_TO.search(ctx.text) and day_asked(ctx) is not None):
        return "改约", None
    return None


async def manage(ctx: TurnContext, action: str, number: str | None) -> list[Reply]:
    """"取消预约 YY…" or "改约 YY…"; without the number, the one upcoming appointment (or a choice among them). A
    change that names the new day ("改到下周一下午") takes it at once.
    """
    book = ctx.services.appointments
    texts = ctx.texts
    if number is None:
        upcoming = await book.of_user(ctx.inbound.user_id, today_local(), limit=10)
        if not upcoming:
            return [Reply(texts.get("appointment_none"))]
        named = ctx.best(ctx.text, ["item"]) if len(upcoming) > 1 else None
        of_named = [a for a in upcoming if named is not None and a.item_code == named.key]
        if len(of_named) == 1:
            upcoming = of_named  # "取消社保卡那个": the booking of the item named
        if len(upcoming) > 1:
            halves = book.rules.halves
            buttons = tuple(Button(texts.get("appointment_choice", number=a.number, item=a.item_name,
                                             day=date_in_words(a.day), half=halves[a.half].name),  # type: ignore[index]
                                   f"{action} {a.number}") for a in upcoming)
            return [Reply(texts.get("appointment_which", action=action), buttons=buttons)]
        number = upcoming[0].number
    if action == "取消预约":
        try:
            await book.cancel(number, ctx.inbound.user_id)
        except NotFound:
            return [Reply(texts.get("appointment_not_found"))]
        except Conflict:
            return [Reply(texts.get("appointment_already_cancelled", number=number))]
        if ctx.slots.get("booked") == number:
            ctx.slots.pop("booked")
        return [Reply(texts.get("appointment_cancelled", number=number))]
    existing = await book.upcoming(number, ctx.inbound.user_id, today_local())
    item = ctx.services.kb.current.items.get(existing.item_code) if existing else None
    if existing is None or item is None:
        return [Reply(texts.get("appointment_not_found"))]
    ctx.slots["target"] = f"item:{item.code}"
    replies = await start(ctx, item, existing.kind, replaces=existing, day_in_text=not MANAGE.match(ctx.text))
    return [Reply(texts.get("appointment_rebook", number=number)), *replies]
