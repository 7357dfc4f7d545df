"""`fallback`: the message was not understood. One clarifying reply; on the second miss, the menu."""

from __future__ import annotations

from bot.flows.base import Flow, TurnContext, menu_buttons
from bot.messages import Reply


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
            return [Reply(ctx.texts.get("fallback_first"))]
        return [Reply(ctx.texts.get("fallback_again"), buttons=menu_buttons(ctx.texts.menu("help")))]
