"""`feedback` (好差评): rate a finished service from 非常满意 to 非常不满意, then an optional comment.
A rating of 不满意 or worse is handed to a supervisor for follow-up.
"""

from __future__ import annotations

import re

from bot.flows.base import Flow, TurnContext, menu_buttons
from bot.messages import Button, Reply
from core.errors import Conflict, NotFound
from handoff.evaluations import FOLLOW_UP_AT_OR_BELOW, LEVELS

# The payload of a rating button: "评价 BBC20261122-0003 5". Self-describing, so it works from a pushed
# message whose buttons the session never saw.
RATING = re.compile(r"^评价\s*(BBC[0-9]{8}-[0-9]{4})\s*([1-5])$", re.IGNORECASE)
SKIP = frozenset({"跳过", "没有", "无", "没了", "不用了", "没有了"})
MAX_COMMENT_CHARS = 500


def rating_buttons(case_no: str) -> tuple[Button, ...]:
    """The five 好差评 levels as buttons, best first."""
    return tuple(Button(label, f"评价 {case_no} {score}") for score, label in sorted(LEVELS.items(), reverse=True))


class FeedbackFlow(Flow):
    """Takes a rating (from a button or "我要评价") and a comment, and stores them with the case."""

    name = "feedback"
    intents = frozenset({"evaluate"})

    def wants(self, ctx: TurnContext) -> bool:
        """The comment after a rating, or another rating button."""
        return "pending" in ctx.session.slots_of(self.name) or bool(RATING.match(ctx.text))

    def claims(self, ctx: TurnContext) -> bool:
        """A rating button pressed whatever flow was active."""
        return bool(RATING.match(ctx.text))

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Rating → ask for a comment; comment → store both; otherwise offer the case waiting for a rating."""
        slots = ctx.slots
        match = RATING.match(ctx.text)
        if match:
            return await self._rated(ctx, match.group(1).upper(), int(match.group(2)))
        pending = slots.pop("pending", None)
        if pending is not None:
            comment = "" if ctx.text in SKIP else ctx.text[:MAX_COMMENT_CHARS]
            ctx.session.end_flow()
            try:
                await ctx.services.cases.rate(pending["case_no"], rating=pending["rating"], comment=comment)
            except (Conflict, NotFound):
                return [Reply(ctx.texts.get("feedback_not_ratable"))]
            key = "feedback_follow_up" if pending["rating"] <= FOLLOW_UP_AT_OR_BELOW else "feedback_thanks"
            return [Reply(ctx.texts.get(key))]
        waiting = [c for c in await ctx.services.cases.of_user(ctx.inbound.user_id)
                   if c.status == "resolved" and c.rating is None]
        ctx.session.end_flow()
        if not waiting:
            return [Reply(ctx.texts.get("feedback_nothing"))]
        case = waiting[0]
        return [Reply(ctx.texts.get("feedback_choose", item=case.item_name, case_no=case.case_no),
                      buttons=rating_buttons(case.case_no))]

    async def _rated(self, ctx: TurnContext, case_no: str, rating: int) -> list[Reply]:
        try:
            case = await ctx.services.cases.get(case_no)
        except NotFound:
            case = None
        if case is None or case.user_id != ctx.inbound.user_id or case.status != "resolved" or case.rating:
            ctx.session.end_flow()
            return [Reply(ctx.texts.get("feedback_not_ratable"))]
        ctx.slots["pending"] = {"case_no": case_no, "rating": rating}
        return [Reply(ctx.texts.get("feedback_ask_comment"), buttons=menu_buttons(ctx.texts.menu("skip")))]
