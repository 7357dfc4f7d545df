"""`smalltalk`: greetings, the help menu, thanks and goodbye."""

from __future__ import annotations

from bot.flows.base import Flow, TurnContext, menu_buttons
from bot.messages import Reply


class SmalltalkFlow(Flow):
    """Answers in one turn and never stays active."""

    name = "smalltalk"
    keeps_context = False
    intents = frozenset({"greet", "thanks", "goodbye", "chitchat", "out_of_scope"})

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Greeting and help show the menu; thanks and goodbye close politely."""
        intent = ctx.parse.intent
        if intent == "thanks":
            return [Reply(ctx.texts.get("thanks"))]
        if intent == "goodbye":
            return [Reply(ctx.texts.get("goodbye"))]
        if intent == "chitchat":
            return [Reply(ctx.texts.get("chitchat"))]
        if intent == "out_of_scope":
            await ctx.services.gaps.record(ctx.text, "out_of_scope")
            return [Reply(ctx.texts.get("out_of_scope"), buttons=menu_buttons(ctx.texts.menu("help")))]
        return help_menu(ctx, greet=intent == "greet")


def help_menu(ctx: TurnContext, *, greet: bool = False) -> list[Reply]:
    """The menu of what the assistant can do, optionally after the welcome line."""
    head = ctx.texts.get("welcome") + "\n" if greet else ""
    text = head + ctx.texts.get("help")
    return [Reply(text, buttons=menu_buttons(ctx.texts.menu("help")))]
