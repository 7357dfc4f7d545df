"""`feedback` (好差评): rate a finished service from 非常满意 to 非常不满意, then an optional comment.
A rating of 不满意 or worse is handed to a supervisor for follow-up.
"""

from __future__ import annotations

import re

from bot.flows.base import QUESTION_INTENTS, Flow, TurnContext, asks_question, menu_buttons
from bot.messages import Button, Reply
from bot.texts import Texts
from core.errors import Conflict, NotFound
from handoff.evaluations import FOLLOW_UP_AT_OR_BELOW, LEVELS

# The payload of a rating button: "评价 BBC20261122-0003 5". Self-describing, so it works from a pushed
# message whose buttons the session never saw.
# A case (BBC…) or a handoff ticket (GD…).
RATING = re.compile(r"^评价\s*((?:BBC|GD)[0-9]{8}-[0-9]{4})\s*([1-5])$", re.IGNORECASE)
SKIP = frozenset({"跳过", "没有", "无", "没了", "不用了", "没有了"})
MAX_COMMENT_CHARS = 500
SCORE_OF_LEVEL = {label: score for score, label in LEVELS.items()}
_LONGEST_LEVEL_FIRST = sorted(SCORE_OF_LEVEL, key=len, reverse=True)  # 不满意 before 满意
COMMENT_STRIP = " ，,。.！!；;：:~～、"


def rating_buttons(case_no: str) -> tuple[Button, ...]:
    """The five 好差评 levels as buttons, worst first: a typed "5" is the fifth, 非常满意, as five stars would be
    (best first, a citizen's "5" was filed as 非常不满意 and sent to a supervisor).
    """
    return tuple(Button(label, f"评价 {case_no} {score}") for score, label in sorted(LEVELS.items()))


def rating_said(text: str, texts: Texts) -> int | None:
    """The level a whole message says in everyday words ("好评", "五星好评", "很满意"), or None."""
    said = text.strip(COMMENT_STRIP)
    return next((level for level in LEVELS if said in texts.words(f"rating_said_{level}")), None)


def typed_rating(text: str, texts: Texts) -> tuple[int | None, str]:
    """The level a typed message starts with and the words after it: "不满意，拖了这么久" → (2, "拖了这么久"),
    "好评" → (5, ""); (None, "") when it starts with none.
    """
    text = text.strip()
    for label in _LONGEST_LEVEL_FIRST:
        rest = text[len(label):]
        # The level ends at a pause: "满意度评价" rates nothing.
        if text.startswith(label) and (not rest or rest[0] in COMMENT_STRIP):
            return SCORE_OF_LEVEL[label], rest.strip(COMMENT_STRIP)
    return rating_said(text, texts), ""


class FeedbackFlow(Flow):
    """Takes a rating (from a button or "我要评价") and a comment, and stores them with the case."""

    name = "feedback"
    intents = frozenset({"evaluate"})

    def wants(self, ctx: TurnContext) -> bool:
        """The comment after a rating (another rating button it `owns`)."""
        return "pending" in ctx.session.slots_of(self.name)

    def sets_aside(self, ctx: TurnContext) -> bool:
        """A question asked instead of the comment ("稳岗返还到哪办"): answered, and the rating kept without one
        (it was stored as the comment, and the question never answered).
        """
        names_something = any(e.entity in ("item", "policy") for e in ctx.parse.entities)
        return asks_question(ctx.text) and (ctx.parse.intent in QUESTION_INTENTS | {"ask_progress"} or names_something)

    async def resume_hint(self, ctx: TurnContext) -> list[Reply]:
        """The rating whose comment a question stood in for, stored without one."""
        pending = ctx.session.slots_of(self.name).pop("pending", None)
        if pending is None:
            return []
        return await self._rated_with_comment(ctx, pending["case_no"], pending["rating"], "", ends_flow=False)

    def owns(self, ctx: TurnContext) -> bool:
        """A rating button, pressed whatever flow was active and whatever the NLU made of it, or a level typed
        with a reason ("满意，谢谢你们" reads as thanks).
        """
        return bool(RATING.match(ctx.text)) or typed_rating(ctx.inbound.text, ctx.texts)[1] != ""

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Rating → ask for a comment; comment → store both; otherwise offer the case waiting for a rating."""
        slots = ctx.slots
        match = RATING.match(ctx.text)
        if match:
            return await self._rated(ctx, match.group(1).upper(), int(match.group(2)))
        pending = slots.pop("pending", None)
        if pending is not None:
            comment = "" if ctx.text in SKIP else ctx.text
            return await self._rated_with_comment(ctx, pending["case_no"], pending["rating"], comment)
        waiting = [c for c in await ctx.services.cases.of_user(ctx.inbound.user_id)
                   if c.status == "resolved" and c.rating is None]
        level, comment = typed_rating(ctx.inbound.text, ctx.texts)
        if waiting and level is not None:  # "满意" typed for the case waiting for it, not a button pressed
            if not comment:
                return await self._rated(ctx, waiting[0].case_no, level)
            # "不满意，拖了这么久": the rating and its reason in one message
            return await self._rated_with_comment(ctx, waiting[0].case_no, level, comment)
        ctx.session.end_flow()
        if not waiting:  # "满意，谢谢你们" with nothing to rate is thanks for the answer
            return [Reply(ctx.texts.get("thanks" if comment else "feedback_nothing"))]
        case = waiting[0]
        return [Reply(ctx.texts.get("feedback_choose", item=case.item_name, case_no=case.case_no),
                      buttons=rating_buttons(case.case_no))]

    async def _rated_with_comment(self, ctx: TurnContext, number: str, rating: int, comment: str,
                                  *, ends_flow: bool = True) -> list[Reply]:
        """Store the rating and its comment; thanks, or for 不满意 and worse, the supervisor's follow-up."""
        if ends_flow:
            ctx.session.end_flow()
        try:
            await self._store(ctx, number, rating, comment[:MAX_COMMENT_CHARS])
        except (Conflict, NotFound):
            return [Reply(ctx.texts.get("feedback_not_ratable"))]
        key = "feedback_follow_up" if rating <= FOLLOW_UP_AT_OR_BELOW else "feedback_thanks"
        return [Reply(ctx.texts.get(key, level=LEVELS[rating]))]

    async def _store(self, ctx: TurnContext, number: str, rating: int, comment: str) -> None:
        """Keep the rating with the case (which closes it) or the ticket, and as a 好差评 record."""
        services = ctx.services
        if number.startswith("BBC"):
            await services.cases.rate(number, rating=rating, comment=comment)
            return
        ticket = await services.tickets.rate(number, ctx.inbound.user_id, rating)
        await services.evaluations.add(service="ticket", ref=ticket.number, user_id=ticket.user_id,
                                       window=ticket.window, rating=rating, comment=comment)

    async def _ratable(self, ctx: TurnContext, number: str) -> bool:
        if number.startswith("GD"):
            tickets = await ctx.services.tickets.find(windows=None, status="closed", limit=1, number=number)
            return bool(tickets) and tickets[0].user_id == ctx.inbound.user_id and tickets[0].rating is None \
                and tickets[0].claimed_at is not None
        try:
            case = await ctx.services.cases.get(number)
        except NotFound:
            return False
        return case.status == "resolved" and not case.rating and \
            await ctx.services.cases.belongs_to(case, ctx.inbound.user_id)

    async def _rated(self, ctx: TurnContext, case_no: str, rating: int) -> list[Reply]:
        if not await self._ratable(ctx, case_no):
            ctx.session.end_flow()
            return [Reply(ctx.texts.get("feedback_not_ratable"))]
        ctx.slots["pending"] = {"case_no": case_no, "rating": rating}
        return [Reply(ctx.texts.get("feedback_ask_comment"), buttons=menu_buttons(ctx.texts.menu("skip")))]
