"""The turn pipeline of DESIGN §1: dedupe → lock → session → NLU → global intents → flow → save → log."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.choices import resolve_choice
from bot.flows.base import (
    MAX_BARE_ANSWER_CHARS,
    MORE_WORDS,
    QUESTION_INTENTS,
    Flow,
    Services,
    TurnContext,
    is_bare_yes_no,
)
from bot.flows.feedback import rating_buttons, rating_said
from bot.flows.handoff import asks_for_a_person, asks_when_answered, reopening_in_words, says_nothing
from bot.flows.smalltalk import asks_centre_phone, help_menu
from bot.messages import Inbound, Reply
from bot.metrics import Metrics
from bot.session import Session
from bot.texts import Texts
from bot.turn_state import Begun, TurnState
from bot.turns import LastTurn, TurnLog
from core import jsoncodec
from core.clock import now_local
from core.db import utcnow
from core.ratelimit import Budget
from core.settings import Settings
from core.text import CLAUSE_BREAK
from handoff.evaluations import LEVELS
from handoff.tickets import Ticket
from intents.base import FALLBACK_INTENT, NLU, Parse, normalise

log = logging.getLogger("bot.engine")

# Handled by the engine itself, whatever flow is active.
GLOBAL_INTENTS = frozenset({"help", "cancel", "restart"})
# Go straight to their flow, even when the active flow would take any message as an answer (转人工 in the
# middle of a complaint must reach a person, not become the complaint's text).
OVERRIDING_INTENTS = frozenset({"request_human"})
# Answered by the bot while a message left out of hours waits for staff (nobody reads it till morning).
ANSWERED_BESIDE_A_MESSAGE = QUESTION_INTENTS | {"ask_progress", "help", "precheck", "book_appointment"}
# Of those, the commands: not added to the message.
COMMAND_INTENTS = frozenset({"ask_progress", "help"})
# "社保卡那个", "租房的那个": a choice among the buttons pointed at by what it is about.
POINTS_AT = re.compile(r"的?(?:那个|这个|那一个|这一个|那项|这项)$")
# "不对 是离婚", "不是这个，我说的是补户口本": a correction, and the words that lead to what it says instead.
CORRECTION_LEAD = re.compile(r"^(?:不对|不是|错了|搞错了|弄错了|说错了)(?:这个|这样|的)?[，,。.！!~～\s]*"
                             r"(?:我说的是|我要的是|我是说|我是要|我是|我要|我想|应该是|是)?")
# What may stand between a greeting and the question after it, and how long that question must be to count.
GREETING_BREAK = " ，,。.！!~～、"
MIN_AFTER_GREETING = 2


@dataclass(frozen=True)
class TurnResult:
    """What one message produced: the replies, what the NLU understood and which flow answered."""

    replies: tuple[Reply, ...]
    nlu: dict[str, Any]
    flow: str | None
    duplicate: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The body of `POST /api/v1/messages`."""
        return {"replies": [r.to_json() for r in self.replies], "nlu": self.nlu, "flow": self.flow}

    @functools.cached_property
    def encoded(self) -> bytes:
        """`to_json` as JSON in UTF-8 (Chinese as it is, not \\u-escaped), made once: the engine stores it for
        retries and the web channel sends it as the response body.
        """
        return jsoncodec.dump_bytes(self.to_json())

    @classmethod
    def from_json(cls, data: dict[str, Any], *, duplicate: bool = False) -> TurnResult:
        """Rebuild a cached result."""
        return cls(tuple(Reply.from_json(r) for r in data["replies"]), data["nlu"], data["flow"], duplicate)


class Engine:
    """Routes messages to flows. Flows are registered on the instance, not in a global registry."""

    def __init__(self, *, settings: Settings, state: TurnState, nlu: NLU,
                 texts: Texts, turn_log: TurnLog, metrics: Metrics, fallback: Flow, services: Services) -> None:
        self._settings = settings
        self._state = state
        self._nlu = nlu
        self._texts = texts
        self._turns = turn_log
        self._metrics = metrics
        self._fallback = fallback
        self._services = services
        self._flows: dict[str, Flow] = {fallback.name: fallback}
        self._by_intent: dict[str, Flow] = {}
        self._acknowledgements = texts.words("acknowledgements")
        self._cancel_words = texts.words("cancel_said")
        self._greeting_leads = sorted(texts.words("greeting_leads"), key=len, reverse=True)

    def add_flow(self, flow: Flow) -> None:
        """Register a flow for its intents. An intent may belong to one flow only."""
        for intent in flow.intents:
            if intent in self._by_intent:
                raise ValueError(f"intent {intent!r} is claimed by {self._by_intent[intent].name} and {flow.name}")
            self._by_intent[intent] = flow
        self._flows[flow.name] = flow

    async def welcome(self, user_id: str, channel: str) -> None:
        """A user id was made just now (a new web visitor): its first turn can skip the SQL look-ups that
        guard against a Redis that lost a known user's state.
        """
        await self._state.welcome(user_id, channel)

    async def handle(self, inbound: Inbound, budget: Budget | None = None) -> TurnResult:
        """Process one message exactly once: a retry with the same msg_id gets the first answer. The message
        counts against the channel's `budget` of limits as its turn begins (`RateLimited` over one).
        """
        started = time.perf_counter()
        begun = await self._state.begin(inbound.user_id, inbound.msg_id, budget)
        last_turn = LastTurn(self._turns, inbound.user_id)
        finished = False
        keep_horizon: int | None = None  # given back on release: only by a turn that logged nothing new
        try:
            if begun.answer:
                keep_horizon = begun.horizon
                self._metrics.duplicates.labels(inbound.channel).inc()
                return TurnResult.from_json(jsoncodec.loads(begun.answer), duplicate=True)
            horizon = begun.horizon
            if horizon is None or horizon > time.time():
                # Redis may have been wiped, or a worker died mid-turn: the SQL turn log is the system of record.
                logged = await self._logged_result(inbound)
                if horizon is None:
                    horizon = await self._horizon_after(last_turn)
                if logged is not None:
                    keep_horizon = horizon
                    self._metrics.duplicates.labels(inbound.channel).inc()
                    return logged
            result, session = await self._process(inbound, begun, last_turn)
            if not result.duplicate:
                if not await self._state.finish(begun, session, result.encoded, horizon):
                    log.warning("turn of %s outlived its lock", inbound.user_id)
                finished = True
        finally:
            if not finished:
                await self._state.release(begun, keep_horizon)
        self._metrics.turns.labels(inbound.channel, result.flow or "none").inc()
        self._metrics.turn_seconds.observe(time.perf_counter() - started)
        return result

    async def _horizon_after(self, last_turn: LastTurn) -> int:
        """A new dedupe horizon: when the retry window of the user's last logged message ends (0 if none)."""
        last = await last_turn.get()
        if last is None:
            return 0
        return math.ceil(last[1].timestamp()) + self._state.dedupe_ttl_seconds

    async def _logged_result(self, inbound: Inbound) -> TurnResult | None:
        turn = await self._turns.find(inbound.user_id, inbound.msg_id)
        if turn is None:
            return None
        nlu = Parse(text=turn.text, intent=turn.intent or "", confidence=turn.confidence or 0.0).to_json()
        return TurnResult(tuple(Reply.from_json(r) for r in turn.replies), nlu, turn.flow, duplicate=True)

    async def _session_lost(self, last_turn: LastTurn) -> bool:
        """Whether a missing session was lost rather than never started or expired: the user's last turn is
        younger than the session's idle TTL (every turn renews it) and was in a flow that asks several
        questions. Redis was wiped or restarted, or a worker died before saving the session.
        """
        last = await last_turn.get()
        if last is None:
            return False
        flow = self._flows.get(last[0] or "")
        young = utcnow() - last[1] < timedelta(seconds=self._settings.session_ttl_seconds)
        return young and flow is not None and flow.keeps_context

    async def _process(self, inbound: Inbound, begun: Begun, last_turn: LastTurn) -> tuple[TurnResult, Session]:
        stored = begun.session
        # A conversation cut off half-way gets a short apology rather than a puzzling answer.
        lost = stored is None and await self._session_lost(last_turn)
        session = stored or Session(inbound.user_id, inbound.channel)
        text = normalise(inbound.text)
        # A menu pushed since the last turn (a rating after the handoff) is the newest the user has seen.
        menu = session.buttons if begun.pushed_menu is None else begun.pushed_menu
        chosen = resolve_choice(text, menu)
        if chosen is None and menu and (level := rating_said(text, self._texts)) is not None:
            chosen = resolve_choice(LEVELS[level], menu)  # "好评", "五星好评" to the rating buttons
        if chosen is None and len(session.buttons) > 1 and POINTS_AT.search(text):
            chosen = self._choice_named(text, session.buttons)  # "社保卡那个" among the appointments to cancel
        text = chosen if chosen is not None else self._without_greeting(text)
        parse = await self._nlu.parse(text) if text else Parse(text="", intent="empty", confidence=1.0)
        corrected = _after_correction(text) if chosen is None and parse.intent == "deny" else None
        if corrected is not None:  # "不对 是离婚": what it is instead, read on its own (was "没太明白")
            text, parse = corrected, await self._nlu.parse(corrected)
        ctx = TurnContext(inbound=inbound, text=text, parse=parse, session=session, texts=self._texts,
                          services=self._services, previous_flow=session.flow)
        ticket = await self._services.tickets.open_ticket_of(inbound.user_id, begun.ticket_marker)
        if ticket is not None:
            flow_name, replies = await self._relay(ctx, ticket)
        else:
            flow_name, replies = await self._route(ctx)
            if lost:
                replies.insert(0, Reply(self._texts.get("session_lost")))
        session = ctx.session  # `restart` replaces it
        session.turns += 1
        session.buttons = [b.to_json() for r in replies for b in r.buttons]
        result = TurnResult(tuple(replies), parse.to_json(), flow_name)
        if await self._turns.record(inbound, parse, flow_name, replies) is None:
            # Another worker logged this message id first (possible only if Redis lost the dedupe key).
            return (await self._logged_result(inbound)) or result, session
        return result, session

    async def _route(self, ctx: TurnContext) -> tuple[str, list[Reply]]:
        # "转人工，问一下研发费用加计扣除" asks for a person, though the classifier reads the question in it.
        intent = "request_human" if asks_for_a_person(ctx) else ctx.parse.intent
        if intent == "cancel" and ctx.parse.confidence < 1.0 and not any(w in ctx.text for w in self._cancel_words):
            intent = FALLBACK_INTENT  # "旧卡丢了" read as 取消: no word of it calls anything off
        if not ctx.text:
            return "smalltalk", [Reply(self._texts.get("empty_message"))]
        # A button payload of a flow's own goes to it, before the NLU's reading of it counts.
        flow = next((f for f in self._flows.values() if f.owns(ctx)), None)
        active = self._flows.get(ctx.session.flow or "")
        set_aside_by: Flow | None = None  # the active flow that lets a question about something else through
        if flow is None and active is not None and intent in GLOBAL_INTENTS and ctx.parse.confidence < 1.0 \
                and active.answers(ctx):
            flow = active  # "不知道" to an open question is its answer, not a request for the menu
        if flow is None:
            # "取消预约 YY…" names a record: it is about that record, not a command to leave the conversation.
            if intent in GLOBAL_INTENTS and not _names_record(ctx):
                flow = self._changed_mind(ctx)
                if flow is None:
                    ctx.session.misses = 0
                    return "smalltalk", self._global(ctx, intent)
            else:
                if intent in OVERRIDING_INTENTS:
                    active = None
                if active is not None and active.wants(ctx) and active.sets_aside(ctx):
                    set_aside_by, active = active, None
                wanted = active is not None and active.wants(ctx)
                flow = active if wanted else self._by_intent.get(intent)
                if flow is not None and not wanted and intent not in OVERRIDING_INTENTS:
                    # routed by its intent (the active flow's own included): a flow naming it better takes it
                    flow = next((f for f in self._flows.values() if f is not flow and f.names_better(ctx)), flow)
        if flow is None and is_bare_yes_no(ctx):
            # A bare 是 or 不是 names nothing to search for ("不是这个，我是要租房提取" does); 好的 with nothing asked
            # is acknowledged.
            if ctx.text.lower() in self._acknowledgements:
                ctx.session.misses = 0
                return "smalltalk", [Reply(self._texts.get("acknowledged"))]
        elif flow is None:
            flow = self._claimer(ctx)
        if flow is None and ctx.text in MORE_WORDS:
            return "smalltalk", [Reply(self._texts.get("nothing_more"))]  # "更多" past the last page
        if flow is None:
            ctx.session.misses += 1
            return self._fallback.name, await self._fallback.handle(ctx)
        ctx.session.misses = 0
        if flow.keeps_context:
            ctx.session.flow = flow.name
        replies = await flow.handle(ctx)
        if set_aside_by is not None and flow is not set_aside_by:
            replies += await set_aside_by.resume_hint(ctx)
        return flow.name, replies

    def _choice_named(self, text: str, buttons: list[dict[str, Any]]) -> str | None:
        """The one button whose title holds the name of the item the text points at ("社保卡那个" → the button
        with 社会保障卡申领、补换), or None.
        """
        named = POINTS_AT.sub("", text)
        hits = self._services.kb.current.search(named, ["item", "bundle"], limit=1) if len(named) >= 2 else []
        if not hits or not hits[0].confident:
            return None
        holding = [b for b in buttons if hits[0].title in str(b.get("title", ""))]
        return str(holding[0]["payload"]) if len(holding) == 1 else None

    def _without_greeting(self, text: str) -> str:
        """"你好，我想问下稳岗返还" → "我想问下稳岗返还": a greeting in front of a question is not the message (it
        was answered with the greeting menu and the question lost). A greeting alone stays one.
        """
        for lead in self._greeting_leads:
            if text.startswith(lead):
                rest = text[len(lead):].lstrip(GREETING_BREAK)
                return rest if len(rest) >= MIN_AFTER_GREETING else text
        return text

    def _claimer(self, ctx: TurnContext) -> Flow | None:
        """The flow that claims the message by what it names (an item, a policy…): the first, unless a later
        one names it clearly better ("高新技术企业15%" is the policy, not the item 企业设立登记 its 企业 matches).
        """
        claimers = [f for f in self._flows.values() if f is not self._fallback and f.claims(ctx)]
        if not claimers:
            return None
        return next((f for f in claimers[1:] if f.names_better(ctx)), claimers[0])

    def _changed_mind(self, ctx: TurnContext) -> Flow | None:
        """"算了，还是问问社保卡补办": a cancel or restart read by the classifier (not the bare command) that goes on
        to name something else leaves the conversation and asks that; the flow that claims it, with the active
        flow ended. None for a plain command.
        """
        if ctx.parse.intent == "help" or ctx.parse.confidence >= 1.0 or len(ctx.text) <= MAX_BARE_ANSWER_CHARS:
            return None
        flow = self._claimer(ctx)
        if flow is not None:
            ctx.session.end_flow()
        return flow

    def window_hint(self, ctx: TurnContext) -> str | None:
        """The themed window of what the conversation is about: the flow active before this message, if it knows."""
        active = self._flows.get(ctx.previous_flow or "")
        return active.window_hint(ctx) if active is not None else None

    async def _relay(self, ctx: TurnContext, ticket: Ticket) -> tuple[str, list[Reply]]:
        """A ticket is open: the message goes to the staff member (the bot stays silent while they serve);
        取消 or 人工结束 leaves the queue or ends the service. Out of hours the bot still answers what it can.
        """
        left = self._leaves_queue_to_ask(ctx) if ticket.status == "waiting" else None
        if left is not None:
            # "算了不用了 我问下社保卡在哪办": out of the queue, and the question answered by the bot (it was passed
            # to staff as the citizen's message)
            await self._services.tickets.citizen_leaves(ticket)
            asked = dataclasses.replace(ctx, text=left, parse=await self._nlu.parse(left))
            flow_name, replies = await self._route(asked)
            ctx.session = asked.session
            return flow_name, [Reply(self._texts.get("handoff_left_queue_to_ask")), *replies]
        # Out of hours a waiting ticket is a message left, not a place in a queue.
        reopens = self._closed_until() if ticket.status == "waiting" else None
        if reopens is not None and self._bot_answers(ctx):
            return await self._answered_beside_message(ctx, ticket)
        return "handoff", await self._relayed(ctx, ticket, reopens)

    def _leaves_queue_to_ask(self, ctx: TurnContext) -> str | None:
        """What a message asks after a first clause that leaves the queue ("算了不用了 我问下…"), or None."""
        first, *rest = CLAUSE_BREAK.split(ctx.text.strip(" ，,。.！!"), maxsplit=1)
        asked = rest[0].strip() if rest else ""
        return asked if asked and first in self._texts.words("leaves_queue") else None

    def _bot_answers(self, ctx: TurnContext) -> bool:
        """"开公司要带什么材料", "查进度", "几点上班", a record number: what the bot answers itself while a message
        left out of hours waits for staff (it was added to the message, unanswered till morning).
        """
        return ctx.parse.intent in ANSWERED_BESIDE_A_MESSAGE or _names_record(ctx) or asks_centre_phone(ctx)

    async def _answered_beside_message(self, ctx: TurnContext, ticket: Ticket) -> tuple[str, list[Reply]]:
        """The bot's answer; a question is also added to the message, so staff see all the citizen asked."""
        flow_name, replies = await self._route(ctx)
        if ctx.parse.intent not in COMMAND_INTENTS and not _names_record(ctx):
            await self._services.tickets.citizen_says(ticket, ctx.inbound.text.strip())
        return flow_name, replies

    async def _relayed(self, ctx: TurnContext, ticket: Ticket, reopens: datetime | None) -> list[Reply]:
        """The message passed to the ticket (see `_relay`); `reopens` when the windows are closed."""
        tickets = self._services.tickets
        names_record = _names_record(ctx)
        # "行 谢谢 人工结束": the command as the last clause of a message ends it too
        last_clause = CLAUSE_BREAK.split(ctx.text.strip(" ，,。.！!"))[-1]
        ends = ctx.parse.intent in ("cancel", "end_human", "restart") or \
            (last_clause != ctx.text and last_clause in self._texts.words("ends_service"))
        if ends and not names_record:
            await tickets.citizen_leaves(ticket)
            if reopens is not None:
                return [Reply(self._texts.get("handoff_message_withdrawn", number=ticket.number))]
            if ticket.status == "waiting":
                return [Reply(self._texts.get("handoff_left_queue"))]
            return [Reply(self._texts.get("handoff_ended")),
                    Reply(self._texts.get("handoff_rate"), buttons=rating_buttons(ticket.number))]
        text = ctx.inbound.text.strip()
        says = text and ctx.parse.intent != "request_human"
        if reopens is not None:
            return await self._add_to_message(ctx, ticket, text if says else "", reopens)
        if ticket.status != "waiting":
            if says:
                await tickets.citizen_says(ticket, text)
            return []
        if says:  # stored and the place in the queue read at once: the two do not depend on each other
            position, _ = await asyncio.gather(tickets.position(ticket), tickets.citizen_says(ticket, text))
        else:
            position = await tickets.position(ticket)
        return [Reply(self._texts.get("handoff_waiting_ack", place=self._texts.queue_place((position or 1) - 1)))]

    def _closed_until(self) -> datetime | None:
        """When the windows open again, if they are closed now (a waiting ticket is a message left)."""
        calendar = self._services.calendar
        now = now_local(calendar.tz)
        opening = calendar.next_opening(now)
        return opening if opening > now else None

    async def _add_to_message(self, ctx: TurnContext, ticket: Ticket, text: str, opening: datetime) -> list[Reply]:
        """Out of hours, what follows a message left is added to it, and the citizen told when staff reply
        (not a place in a queue nobody is serving tonight).
        """
        if not text or says_nothing(ctx) or asks_when_answered(ctx):
            key = "handoff_message_pending"  # "在吗", "好的", "还要等多久": nothing to add
        else:
            await self._services.tickets.citizen_says(ticket, text)
            key = "handoff_message_added"
        return [Reply(self._texts.get(key, number=ticket.number, when=reopening_in_words(opening)))]

    def _global(self, ctx: TurnContext, intent: str) -> list[Reply]:
        if intent == "cancel":
            active = self._flows.get(ctx.session.flow or "")
            left = active.left_behind(ctx) if active is not None else []
            ctx.session.end_flow()
            return left or [Reply(self._texts.get("cancelled" if active is not None else "nothing_to_cancel"))]
        if intent == "restart":
            ctx.session = Session(ctx.session.user_id, ctx.session.channel)
            return [Reply(self._texts.get("restarted")), *help_menu(ctx)]
        return help_menu(ctx)


def _after_correction(text: str) -> str | None:
    """What a correction says instead ("不对 是离婚" → 离婚, "不是这个，我是要租房提取" → 要租房提取), or None when the
    message is a bare 不对 or fewer than two characters are left.
    """
    match = CORRECTION_LEAD.match(text)
    rest = text[match.end():].strip(GREETING_BREAK) if match else ""
    return rest if len(rest) >= MIN_AFTER_GREETING and rest != text else None


def _names_record(ctx: TurnContext) -> bool:
    """Whether the message names a case, pre-check, ticket or appointment number ("取消预约 YY…", "GD…")."""
    return any(e.entity == "case_no" for e in ctx.parse.entities)
