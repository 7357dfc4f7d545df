"""`smalltalk`: greetings, the help menu, thanks and goodbye."""

from __future__ import annotations

from bot.flows.base import Flow, TurnContext, menu_buttons
from bot.messages import Reply


class SmalltalkFlow(Flow):
    """Answers in one turn and never stays active."""

    name = "smalltalk"
    keeps_context = False
    intents = frozenset({"greet", "thanks", "goodbye"})

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """Greeting and help show the menu; thanks and goodbye close politely."""
        intent = ctx.parse.intent
        if intent == "thanks":
            return [Reply(ctx.texts.get("thanks"))]
        if intent == "goodbye":
            return [Reply(ctx.texts.get("goodbye"))]
        return help_menu(ctx, greet=intent == "greet")


def help_menu(ctx: TurnContext, *, greet: bool = False) -> list[Reply]:
    """The menu of what the assistant can do, optionally after the welcome line."""
    head = ctx.texts.get("welcome") + "\n" if greet else ""
    text = head + ctx.texts.get("help")
    return [Reply(text, buttons=menu_buttons(ctx.texts.menu("help")))]
