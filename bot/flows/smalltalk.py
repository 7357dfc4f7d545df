"""`smalltalk`: greetings, the help menu, thanks and goodbye, and the centre's office hours."""

from __future__ import annotations

from datetime import date, time, timedelta

from bot.flows.base import Flow, TurnContext, menu_buttons
from bot.flows.feedback import rating_buttons
from bot.messages import Reply
from core.clock import now_local, today_local
from core.db import utcnow
from handoff.calendar import date_in_words

# The statutory holidays asked about by name (chinese_calendar's names; the words for each are in replies.yml).
HOLIDAYS = ("new_years_day", "spring_festival", "tomb_sweeping_day", "labour_day", "dragon_boat_festival",
            "national_day", "mid_autumn_festival")


MAX_PHONE_ASKED_CHARS = 12  # "你们电话多少": a longer message asks more than the number
MIN_PHONE_DIGITS = 5
# "结束人工服务" this long after a service closed unrated offers it for rating again.
RATE_ENDED_SERVICE_HOURS = 12
MAX_LOST_CHARS = 10  # "我听不懂你说的" is lost; a longer message says what it wants


class SmalltalkFlow(Flow):
    """Answers in one turn and never stays active."""

    name = "smalltalk"
    keeps_context = False
    # end_human reaches here only with no ticket open (the engine relays it to an open one)
    intents = frozenset({"greet", "thanks", "goodbye", "chitchat", "out_of_scope", "ask_office_hours", "end_human"})

    def owns(self, ctx: TurnContext) -> bool:
        """"听不懂", "说简单点", "慢点说": the person is lost; they get a plainer way on, whatever the NLU reads. "你们
        电话多少": the centre's phone.
        """
        return _is_lost(ctx) or asks_centre_phone(ctx)

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Greeting and help show the menu; thanks and goodbye close politely."""
        if _is_lost(ctx):
            return [Reply(ctx.texts.get("said_plainly"), buttons=menu_buttons(ctx.texts.menu("said_plainly")))]
        if asks_centre_phone(ctx):
            return [centre_phone(ctx)]
        intent = ctx.parse.intent
        if intent == "thanks":
            return [Reply(ctx.texts.get("thanks"))]
        if intent == "goodbye":
            return [Reply(ctx.texts.get("goodbye"))]
        if intent == "ask_office_hours":
            return office_hours(ctx)
        if intent == "end_human":  # "人工结束" with nobody serving: not "没太明白", nor a new place in the queue
            return await no_service_to_end(ctx)
        if intent == "chitchat":
            return [Reply(ctx.texts.get("chitchat"))]
        if intent == "out_of_scope":
            await ctx.services.gaps.record(ctx.text, "out_of_scope")
            return [Reply(ctx.texts.get("out_of_scope"), buttons=menu_buttons(ctx.texts.menu("help")))]
        return help_menu(ctx, greet=intent == "greet")


async def no_service_to_end(ctx: TurnContext) -> list[Reply]:
    """No person is serving the user: the service that ended today, still to rate, is offered for rating."""
    since = utcnow() - timedelta(hours=RATE_ENDED_SERVICE_HOURS)
    ticket = await ctx.services.tickets.unrated_since(ctx.inbound.user_id, since)
    if ticket is None:
        return [Reply(ctx.texts.get("no_human_service"))]
    return [Reply(ctx.texts.get("handoff_already_ended")),
            Reply(ctx.texts.get("handoff_rate"), buttons=rating_buttons(ticket.number))]


def _is_lost(ctx: TurnContext) -> bool:
    return len(ctx.text) <= MAX_LOST_CHARS and any(word in ctx.text for word in ctx.texts.words("lost"))


def asks_centre_phone(ctx: TurnContext) -> bool:
    """"你们电话多少", "咨询电话是多少": how to ring the centre (not a phone number given, nor an item's window)."""
    text = ctx.text
    if len(text) > MAX_PHONE_ASKED_CHARS or sum(c.isdigit() for c in text) >= MIN_PHONE_DIGITS:
        return False  # "电话是0756…" gives a number
    return any(word in text for word in ctx.texts.words("asks_centre_phone"))


def centre_phone(ctx: TurnContext) -> Reply:
    """The centre's enquiry phone with its hours, or the 12345 hotline when the deployment gives none."""
    phone = ctx.services.centre_phone
    if not phone:
        return Reply(ctx.texts.get("centre_phone_hotline"))
    hours = ctx.services.calendar.hours
    return Reply(ctx.texts.get("centre_phone", phone=phone, opens=_clock(hours.opens), closes=_clock(hours.closes)))


def office_hours(ctx: TurnContext) -> list[Reply]:
    """The centre's hours; its address when asked where it is and the deployment gives it; for a day asked
    about ("周六上班不", "明天"), whether it is a working day by the official holiday and 调休 calendar.
    """
    calendar = ctx.services.calendar
    hours = calendar.hours  # the same office hours the deadlines are computed with
    replies = [Reply(ctx.texts.get("office_hours", opens=_clock(hours.opens), lunch=_clock(hours.lunch_starts),
                                   after_lunch=_clock(hours.lunch_ends), closes=_clock(hours.closes)))]
    address = ctx.services.centre_address
    if address and any(word in ctx.text for word in ctx.texts.words("where")):
        replies.insert(0, Reply(ctx.texts.get("centre_address", address=address)))
    day = day_asked(ctx)
    if day is not None:
        replies.insert(0, day_line(ctx, day))
    elif (holiday := _holiday_named(ctx)) is not None:
        replies.insert(0, Reply(_holiday_line(ctx, holiday)))
    elif any(word in ctx.text for word in ctx.texts.words("now")):  # "现在还能去办吗"
        replies.insert(0, Reply(_now_line(ctx)))
    return replies


def day_asked(ctx: TurnContext) -> date | None:
    """The day the message names ("周六", "明天", "12月31日"), if any."""
    return next((date.fromisoformat(str(e.value)) for e in ctx.parse.entities if e.entity == "date"), None)


def day_line(ctx: TurnContext, day: date) -> Reply:
    """Whether the centre is open on `day` by the official holiday and 调休 calendar, and if not, the next day
    it is.
    """
    calendar = ctx.services.calendar
    if calendar.is_workday(day):
        return Reply(ctx.texts.get("office_day_open", day=date_in_words(day)))
    following, _ = calendar.add_working_days(day, 1)
    return Reply(ctx.texts.get("office_day_closed", day=date_in_words(day), next=date_in_words(following)))


def _holiday_named(ctx: TurnContext) -> str | None:
    """The statutory holiday the message names ("元旦上班吗", "国庆放几天"), as a chinese_calendar Holiday name."""
    return next((name for name in HOLIDAYS if any(word in ctx.text for word in ctx.texts.words(f"holiday_{name}"))),
                None)


def _holiday_line(ctx: TurnContext, holiday: str) -> str:
    """When the holiday's days off are and when work starts again."""
    texts = ctx.texts
    name = texts.get(f"holiday_name_{holiday}")
    period = ctx.services.calendar.holiday_period(holiday, today_local())
    if period is None:
        return texts.get("holiday_not_published", name=name)
    first, last, provisional = period
    back, _ = ctx.services.calendar.add_working_days(last, 1)
    key = "holiday_period_provisional" if provisional else "holiday_period"
    return texts.get(key, name=name, first=date_in_words(first), last=date_in_words(last),
                     days=(last - first).days + 1, back=date_in_words(back), year=first.year)


def _now_line(ctx: TurnContext) -> str:
    """Whether the windows are open right now, and if not, when they open."""
    calendar = ctx.services.calendar
    now = now_local(calendar.tz)
    opening = calendar.next_opening(now)
    if opening == now:
        return ctx.texts.get("office_open_now", closes=_clock(calendar.hours.closes))
    if opening.date() == now.date():
        return ctx.texts.get("office_opens_today", at=_clock(opening.time()))
    return ctx.texts.get("office_closed_now", day=date_in_words(opening.date()), at=_clock(opening.time()))


def _clock(moment: time) -> str:
    return f"{moment.hour}:{moment.minute:02d}"  # 9:00, as the guides write it


def help_menu(ctx: TurnContext, *, greet: bool = False) -> list[Reply]:
    """The menu of what the assistant can do, optionally after the welcome line."""
    head = ctx.texts.get("welcome") + "\n" if greet else ""
    text = head + ctx.texts.get("help")
    return [Reply(text, buttons=menu_buttons(ctx.texts.menu("help")))]
