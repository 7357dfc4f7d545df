"""`handoff`: 转人工. Opens a ticket on the themed window (主题窗口) the conversation is about, with the
conversation so far, and tells the citizen their place and the expected wait. Outside office hours it
says when staff are back and takes a message instead (a ticket answered on the next working day).
While a ticket is open the engine relays the citizen's messages to it (see Engine.relay).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime

from bot.flows.base import BUNDLE_WINDOW, POLICY_WINDOW, Flow, TurnContext
from bot.messages import Reply
from core.clock import now_local
from handoff.calendar import date_in_words
from handoff.tickets import Ticket

HISTORY_TURNS = 10
DEFAULT_WINDOW = "综合"
# Shorter than this, what is left of a message after "转人工" asks nothing ("转人工吧").
MIN_QUESTION_CHARS = 4
QUESTION_TRIM = " ，,。.！!？?、：:~～"
TAKEN_BACK = re.compile(r"^(?:那|那就)?(?:算了|不用了|不留了|不留言了|不找了)")
MAX_WAIT_QUESTION_CHARS = 12  # longer, it says more than "how long"
# Messages that carry nothing to leave for staff.
CONTENTLESS_INTENTS = frozenset({"greet", "affirm", "thanks", "goodbye", "request_human"})


class HandoffFlow(Flow):
    """Starts a handoff; `window_hint` names the window of whatever the conversation is about."""

    name = "handoff"
    intents = frozenset({"request_human"})

    def __init__(self, window_hint: Callable[[TurnContext], str | None]) -> None:
        self._window_hint = window_hint

    def wants(self, ctx: TurnContext) -> bool:
        """After the out-of-hours notice, the next message is the message to leave, unless it starts by taking
        the request back ("那算了 身份证丢了咋补办": asked of the bot instead).
        """
        return bool(ctx.session.slots_of(self.name).get("leaving_message")) and not TAKEN_BACK.match(ctx.text)

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Queue a ticket now, or offer to leave a message when windows are closed."""
        slots = ctx.slots
        texts = ctx.texts
        calendar = ctx.services.calendar
        open_cases: list[str] | None = None  # read once, when first needed
        leaving = bool(slots.get("leaving_message"))
        # "转人工，问一下研发费用加计扣除", or the message left: what it asks about names the window.
        question = without_human_request(ctx)
        stored = slots.get("window")  # the window of the conversation before the out-of-hours notice
        window = stored if stored and stored != DEFAULT_WINDOW else \
            _window_named(ctx, question) or self._window_hint(ctx)
        if not window:
            open_cases = await self._open_cases(ctx)
            # Someone with a 办不成事 case still open who asks for a person gets the complaint window.
            window = ctx.services.cases.rules.routing.complaint_window if open_cases else DEFAULT_WINDOW
        if leaving and says_nothing(ctx):
            # "好的" to "您可以直接留言": not the message itself, which is still to come
            return [Reply(texts.get("handoff_message_ask"))]
        now = now_local(calendar.tz)
        opening = calendar.next_opening(now)
        if leaving and asks_when_answered(ctx):  # "还要等多久": when, and the message is still to come
            return [Reply(texts.get("handoff_message_when", when=reopening_in_words(opening)))]
        if leaving or (opening > now and len(question) >= MIN_QUESTION_CHARS):
            slots.pop("leaving_message", None)
            ctx.session.end_flow()
            ticket = await self._open(ctx, window, "message", ctx.inbound.text.strip(), open_cases)
            return [Reply(texts.get("handoff_message_left", number=ticket.number, window=window,
                                    when=reopening_in_words(opening)))]
        if opening > now:
            slots.update(leaving_message=True, window=window)
            hours = calendar.hours
            return [Reply(texts.get("handoff_closed", opens=f"{hours.opens:%H:%M}", lunch=f"{hours.lunch_starts:%H:%M}",
                                    reopens=f"{hours.lunch_ends:%H:%M}", closes=f"{hours.closes:%H:%M}",
                                    when=reopening_in_words(opening)))]
        ctx.session.end_flow()
        summary = ctx.inbound.text.strip() if len(question) >= MIN_QUESTION_CHARS else ""
        ticket = await self._open(ctx, window, "request", summary, open_cases)
        return [Reply(await queue_text(ctx, ticket))]

    async def _open_cases(self, ctx: TurnContext) -> list[str]:
        """The numbers of the user's 办不成事 cases still open."""
        return [c.case_no for c in await ctx.services.cases.of_user(ctx.inbound.user_id, limit=3) if c.is_open]

    async def _open(self, ctx: TurnContext, window: str, reason: str, summary: str,
                    open_cases: list[str] | None) -> Ticket:
        history: list[tuple[str, str]] = []
        recent = ctx.services.turns.recent(ctx.inbound.user_id, limit=HISTORY_TURNS)
        if open_cases is None:  # both reads at once
            turns, open_cases = await asyncio.gather(recent, self._open_cases(ctx))
        else:
            turns = await recent
        for turn in turns:
            history.append(("citizen", turn.text))
            history += [("bot", r.get("text", "")) for r in turn.replies if r.get("text")]
        # What the NLU made of the conversation, for the person taking over.
        context: dict[str, object] = {"intents": [t.intent for t in turns if t.intent],
                                      "flows": [t.flow for t in turns if t.flow]}
        if open_cases:
            context["cases"] = open_cases  # the staff member sees which 办不成事 cases this person has open
        ticket, _created = await ctx.services.tickets.open(
            user_id=ctx.inbound.user_id, channel=ctx.inbound.channel, window=window, reason=reason,
            summary=summary, context=context, history=history)
        return ticket


async def queue_text(ctx: TurnContext, ticket: Ticket) -> str:
    """"正在为您转接【公积金】窗口，前面还有 2 位，预计等待约 4 分钟。…" (or that a person is on it)."""
    tickets = ctx.services.tickets
    position = await tickets.position(ticket)
    if position is None:
        return ctx.texts.get("handoff_serving")
    minutes = await tickets.wait_minutes(ticket, position)
    key = "handoff_queued" if minutes is not None else "handoff_queued_nobody_online"
    return ctx.texts.get(key, window=ticket.window, place=ctx.texts.queue_place(position - 1), minutes=minutes)


def asks_for_a_person(ctx: TurnContext) -> bool:
    """"转人工，问一下研发费用加计扣除": asks for a person in so many words, whatever else the message says; not
    "结束人工服务" or "不用人工了", which say 人工服务 too.
    """
    text = ctx.text
    return any(word in text for word in ctx.texts.words("human_request")) and \
        not any(word in text for word in ctx.texts.words("human_declined"))


def without_human_request(ctx: TurnContext) -> str:
    """The message without its words asking for a person, and the punctuation around them."""
    text = ctx.text
    words = ctx.texts.words("human_request") | ctx.texts.words("person_asked")
    for word in sorted(words, key=len, reverse=True):
        text = text.replace(word, " ")
    return text.strip(QUESTION_TRIM)


def reopening_in_words(opening: datetime) -> str:
    """"11月25日（周三）上午": when the windows open again."""
    return f"{date_in_words(opening.date())}{'上午' if opening.hour < 12 else '下午'}"


def _window_named(ctx: TurnContext, question: str) -> str | None:
    """The themed window of the item, bundle or policy the question names."""
    if len(question) < MIN_QUESTION_CHARS:
        return None
    hit = ctx.best(question, ["item", "bundle", "policy"])
    if hit is None:
        return None
    if hit.kind == "item":
        item = ctx.services.kb.current.items.get(hit.key)
        return item.window if item is not None else None
    return BUNDLE_WINDOW if hit.kind == "bundle" else POLICY_WINDOW


def asks_when_answered(ctx: TurnContext) -> bool:
    """"还要等多久", "什么时候有人回": a question about the wait, not a message for staff."""
    return len(ctx.text) <= MAX_WAIT_QUESTION_CHARS and any(w in ctx.text for w in ctx.texts.words("asks_wait"))


def says_nothing(ctx: TurnContext) -> bool:
    """"好的", "嗯", "在吗": an acknowledgement or a greeting, not a message to leave."""
    return ctx.text.lower() in ctx.texts.words("acknowledgements") or ctx.parse.intent in CONTENTLESS_INTENTS
