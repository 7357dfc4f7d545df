"""What every flow is given and must provide."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.flows.headcount import without_headcount
from bot.messages import Button, Inbound, Reply
from bot.session import Session
from bot.texts import Texts
from bot.turns import TurnLog
from handoff.appointments import AppointmentBook
from handoff.calendar import WorkCalendar
from handoff.cases import CaseService
from handoff.evaluations import EvaluationStore
from handoff.tickets import TicketService
from intents.base import Parse
from policy_kb.gaps import GapLog
from policy_kb.prechecks import PrecheckStore
from policy_kb.search import Hit
from policy_kb.service import KbService

# "Show me the rest" after a paged list ("回复“更多”查看其余 N 项").
MORE_WORDS = frozenset({"更多", "下一页", "还有呢", "继续"})
# A yes or no that no flow asked for is not a question about whatever item or policy holds the word ("确认" is
# in 项目确认书): the KB search neither claims it nor suggests records for it.
YES_NO_INTENTS = frozenset({"affirm", "deny"})
# Longer than this, a message read as 是/不是 or 取消 says more ("不是这个，我是要租房提取"): what it names counts.
MAX_BARE_ANSWER_CHARS = 6


# Questions about a service item, a policy or the centre's hours: a flow answers them in one turn, while another
# waits for an answer (a complaint) or a message left out of hours waits for staff.
QUESTION_INTENTS = frozenset({"ask_materials", "ask_conditions", "ask_time_limit", "ask_location", "ask_fee",
                              "ask_process", "ask_online", "ask_policy", "ask_office_hours"})
# A complaint that names a policy or item ("去申请稳岗返还跑了两趟都办不了") is a complaint about it, not a
# question another flow names better.
NOT_QUESTIONS = frozenset({"complain", "urge_case", "evaluate"})
# Themed windows (主题窗口) of what has no item of its own: policy questions and the 一件事 bundles of 企业开办.
POLICY_WINDOW = "惠企政策"
BUNDLE_WINDOW = "企业开办"

def is_bare_yes_no(ctx: TurnContext) -> bool:
    """A short 是, 好的, 不是 or 不用: nothing in it to search the knowledge base for."""
    return ctx.parse.intent in YES_NO_INTENTS and len(ctx.text) <= MAX_BARE_ANSWER_CHARS


# "护照要带什么材料", "上门要收费吗", "几点下班": the message asks something (what it says is not an answer).
QUESTION = re.compile(r"[？?]|[吗呢嘛]$|什么|啥|哪|怎么|怎样|如何|多少|多久|多长时间|几[点天个号时]|是否|"
                      r"能不能|可不可以|要不要|需不需要|用不用|收不收|有没有|是不是")


def asks_question(text: str) -> bool:
    """Whether the text is put as a question ("上门要收费吗"), not as a statement ("窗口说要带户口本")."""
    return bool(QUESTION.search(text))


# Every cached search keeps this many hits; callers slice what they need.
SEARCH_DEPTH = 5


@dataclass(frozen=True)
class Services:
    """The services flows may call (never a channel, Redis or SQL directly)."""

    kb: KbService
    gaps: GapLog
    prechecks: PrecheckStore
    calendar: WorkCalendar
    deferred_supply_days: int
    cases: CaseService
    appointments: AppointmentBook
    tickets: TicketService
    evaluations: EvaluationStore
    turns: TurnLog
    centre_address: str | None = None  # the centre's street address, when the deployment gives it
    centre_phone: str | None = None  # the centre's enquiry phone, when the deployment gives it


@dataclass
class TurnContext:
    """Everything a flow may look at during one turn. A flow writes only `slots` (its own)."""

    inbound: Inbound
    text: str
    parse: Parse
    session: Session
    texts: Texts
    services: Services
    # The flow that was active when the message arrived (the engine may switch to another before handle()).
    previous_flow: str | None = None
    _searches: dict[tuple[str, tuple[str, ...]], list[Hit]] = field(default_factory=dict, repr=False)

    def search(self, text: str, kinds: Sequence[str], limit: int = 5) -> list[Hit]:
        """KB search, run once per turn for the same text and kinds: the engine asks several flows
        whether they claim a message, and the one that does searches again to answer it.
        """
        cache_key = (text, tuple(kinds))
        if cache_key not in self._searches:
            # "60个人" holds 个人, which names no item ("个人交社保" is 灵活就业人员参保登记's)
            searched = without_headcount(text) if "个人" in text else text
            self._searches[cache_key] = self.services.kb.current.search(searched, kinds, limit=SEARCH_DEPTH)
        return self._searches[cache_key][:limit]

    def best(self, text: str, kinds: Sequence[str]) -> Hit | None:
        """The single confident match, or None (see KnowledgeBase.best)."""
        hits = self.search(text, kinds, limit=1)
        return hits[0] if hits and hits[0].confident else None

    @property
    def slots(self) -> dict[str, Any]:
        """The active flow's own slots (created on first use)."""
        assert self.session.flow is not None, "slots are only available inside an active flow"
        return self.session.slots_of(self.session.flow)


class Flow(ABC):
    """A conversation goal. The engine starts it for one of its `intents` and keeps calling `handle`
    while it is active (`session.flow == name`) and `wants` the message.
    """

    name: ClassVar[str]
    intents: ClassVar[frozenset[str]] = frozenset()
    # A flow that keeps context becomes the session's active flow; one-turn flows leave it alone.
    keeps_context: ClassVar[bool] = True

    def wants(self, ctx: TurnContext) -> bool:
        """Whether this active flow takes the message rather than a newly recognised intent."""
        return False

    def names_better(self, ctx: TurnContext) -> bool:
        """Whether the message, routed by its intent to another flow, names this flow's subject clearly better
        ("创业担保贷款要什么材料" names a policy, not the item 就业创业证 its words half match).
        """
        return False

    def answers(self, ctx: TurnContext) -> bool:
        """Whether this active flow's pending question is answered by the message even though the classifier
        read a global intent into it ("不记得了" to "什么时候办的" is no 取消). Exact commands stay global.
        """
        return False

    def sets_aside(self, ctx: TurnContext) -> bool:
        """Whether this active flow, waiting for an answer, lets a question about something else go to its own
        flow and keeps its place ("对了，护照要带什么材料" in the middle of a complaint): the engine routes the
        message by its intent and adds `resume_hint`.
        """
        return False

    def left_behind(self, ctx: TurnContext) -> list[Reply]:
        """When the user cancels this active flow's conversation ("算了，取消"): what it made that the cancel does
        not undo, said instead of a plain "已取消" (an appointment booked in it is still there); empty if nothing.
        """
        return []

    async def resume_hint(self, ctx: TurnContext) -> list[Reply]:
        """After a question set aside (see `sets_aside`): how to carry on where this flow was (or what it kept)."""
        return []

    def window_hint(self, ctx: TurnContext) -> str | None:
        """The themed window (主题窗口) of what this flow is discussing, for 转人工; None if it has no idea."""
        return None

    def claims(self, ctx: TurnContext) -> bool:
        """Whether this flow takes a message no flow's intent matched (e.g. a bare item name)."""
        return False

    def owns(self, ctx: TurnContext) -> bool:
        """Whether the message is one of this flow's own button payloads, which it takes whatever the NLU made
        of it: a payload is exact, while its record number's digits can sway the classifier."""
        return False

    @abstractmethod
    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Answer the turn. Return replies; set `ctx.session.flow = None` via end_flow() when done."""


def menu_buttons(entries: list[dict[str, str]]) -> tuple[Button, ...]:
    """Buttons from a `{title, payload}` list, as returned by Texts.menu()."""
    return tuple(Button(e["title"], e["payload"]) for e in entries)
