"""`fallback`: the message was not understood. One clarifying reply; on the second miss, the menu; after that,
the way to a person.
"""

from __future__ import annotations

from bot.flows.base import Flow, TurnContext, is_bare_yes_no, menu_buttons
from bot.messages import Button, Reply

SUGGESTIONS = 3
SUGGEST_FROM = 0.3  # below the guide's own threshold for offering choices, above noise


class FallbackFlow(Flow):
    """Counts misses in a row in the session (the engine resets the count on any understood turn)."""

    name = "fallback"
    keeps_context = False

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """First miss: ask to rephrase. Second miss in a row and later: offer the menu. Every miss is kept
        for the KB editors (否定备案).
        """
        await ctx.services.gaps.record(ctx.text, "chat")
        if ctx.session.misses <= 1:
            # Near misses in the KB make the clarifying question concrete ("您是不是想问：…").
            # A local example policy (示例) is never a guess at what a citizen meant.
            policies = ctx.services.kb.current.policies
            near = [] if is_bare_yes_no(ctx) else [
                h for h in ctx.search(ctx.text, ["item", "bundle", "policy"], limit=SUGGESTIONS)
                if h.score >= SUGGEST_FROM and not (h.kind == "policy" and h.key in policies
                                                    and policies[h.key].sample)]
            if near:
                return [Reply(ctx.texts.get("fallback_suggest"), buttons=tuple(Button(h.title, h.title) for h in near))]
            return [Reply(ctx.texts.get("fallback_first"))]
        if ctx.session.misses == 2:
            return [Reply(ctx.texts.get("fallback_again"), buttons=menu_buttons(ctx.texts.menu("help")))]
        # The menu did not help either: not the same words again, but the way to a person.
        person = Button(ctx.texts.get("button_person"), "转人工")
        return [Reply(ctx.texts.get("fallback_offer_human"), buttons=(person,))]
