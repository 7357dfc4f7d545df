"""`smalltalk`: greetings, the help menu, thanks and goodbye, and the centre's office hours."""

from __future__ import annotations

from datetime import date, time

from bot.flows.base import Flow, TurnContext, menu_buttons
from bot.messages import Reply
from handoff.calendar import date_in_words


class SmalltalkFlow(Flow):
    """Answers in one turn and never stays active."""

    name = "smalltalk"
    keeps_context = False
    intents = frozenset({"greet", "thanks", "goodbye", "chitchat", "out_of_scope", "ask_office_hours"})

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Greeting and help show the menu; thanks and goodbye close politely."""
        intent = ctx.parse.intent
        if intent == "thanks":
            return [Reply(ctx.texts.get("thanks"))]
        if intent == "goodbye":
            return [Reply(ctx.texts.get("goodbye"))]
        if intent == "ask_office_hours":
            return office_hours(ctx)
        if intent == "chitchat":
            return [Reply(ctx.texts.get("chitchat"))]
        if intent == "out_of_scope":
            await ctx.services.gaps.record(ctx.text, "out_of_scope")
            return [Reply(ctx.texts.get("out_of_scope"), buttons=menu_buttons(ctx.texts.menu("help")))]
        return help_menu(ctx, greet=intent == "greet")


def office_hours(ctx: TurnContext) -> list[Reply]:
    """The centre's hours; for a day asked about ("周六上班不", "明天"), whether it is a working day by the
    official holiday and 调休 calendar.
    """
    calendar = ctx.services.calendar
    hours = calendar.hours  # the same office hours the deadlines are computed with
    replies = [Reply(ctx.texts.get("office_hours", opens=_clock(hours.opens), lunch=_clock(hours.lunch_starts),
                                   after_lunch=_clock(hours.lunch_ends), closes=_clock(hours.closes)))]
    days = [date.fromisoformat(e.value) for e in ctx.parse.entities if e.entity == "date"]
    if days:
        day = days[0]
        if calendar.is_workday(day):
            replies.insert(0, Reply(ctx.texts.get("office_day_open", day=date_in_words(day))))
        else:
            following, _ = calendar.add_working_days(day, 1)
            replies.insert(0, Reply(ctx.texts.get("office_day_closed", day=date_in_words(day),
                                                  next=date_in_words(following))))
    return replies


def _clock(moment: time) -> str:
    return f"{moment.hour}:{moment.minute:02d}"  # 9:00, as the guides write it


def help_menu(ctx: TurnContext, *, greet: bool = False) -> list[Reply]:
    """The menu of what the assistant can do, optionally after the welcome line."""
    head = ctx.texts.get("welcome") + "\n" if greet else ""
    text = head + ctx.texts.get("help")
    return [Reply(text, buttons=menu_buttons(ctx.texts.menu("help")))]
