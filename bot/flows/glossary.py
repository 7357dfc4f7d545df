"""`glossary`: what a word the assistant itself uses means ("容缺受理是啥意思", "什么叫一件事", "小规模纳税人和
一般纳税人有什么区别"), said plainly from the `glossary` table of replies.yml; one turn, and the conversation goes on
where it was (a narrowing question still waits for its answer).
"""

from __future__ import annotations

import re

from bot.flows.base import Flow, TurnContext
from bot.messages import Reply

# "X是啥意思", "X是什么", "X指的是什么", "X怎么理解" after the word; "什么是X", "啥叫X" before it.
AFTER = re.compile(r"^\s*(?:是啥意思|是什么意思|什么意思|啥意思|是啥|是什么|指什么|指的是什么|指的啥|怎么理解|咋理解|"
                   r"是干嘛的|是干什么的|是干啥的|干啥用的|干嘛用的|有啥用|有什么用|是做什么的)")
BEFORE = re.compile(r"(?:什么是|啥是|啥叫|什么叫|何为)\s*$")
# "小规模纳税人和一般纳税人有什么区别": the difference between the word and another asked, anywhere after it.
DIFFERENCE = re.compile(r"区别|不同|差别|不一样|哪个好|有啥差")
MAX_ASKED_CHARS = 20  # a longer message says more than "what does it mean"


class GlossaryFlow(Flow):
    """Explains the service's own words; never stays active."""

    name = "glossary"
    keeps_context = False

    def owns(self, ctx: TurnContext) -> bool:
        """A short question asking what one of the glossary's words means."""
        return _meaning_asked(ctx) is not None

    async def handle(self, ctx: TurnContext) -> list[Reply]:
        """The word's explanation."""
        meaning = _meaning_asked(ctx)
        if meaning is None:  # owns() said yes for this very text; kept total for the type checker
            return [Reply(ctx.texts.get("fallback_first"))]
        return [Reply(meaning.format(days=ctx.services.deferred_supply_days))]


def _meaning_asked(ctx: TurnContext) -> str | None:
    """The explanation of the glossary word the message asks the meaning of, or None."""
    text = ctx.text
    if len(text) > MAX_ASKED_CHARS:
        return None
    for terms, meaning in ctx.texts.glossary():
        for term in terms:
            at = text.find(term)
            after = text[at + len(term):]
            if at >= 0 and (AFTER.match(after) or BEFORE.search(text[:at]) or DIFFERENCE.search(after)):
                return meaning
    return None
