""""我是自己辞职的能领吗" while 失业保险金申领 is discussed: whether one's own circumstance qualifies for the item in
context. The circumstance's word (辞职) may name another item (住房公积金提取（解除劳动关系）, whose aliases say 辞职),
but a question that names nothing else once that word is taken out is about the item in context, and is answered
from what its guide says of the circumstance: the conditions and common errors that mention it
("主动辞职（本人意愿中断就业）不符合领取条件"), then all its conditions.
"""

from __future__ import annotations

from bot.flows.base import TurnContext
from bot.messages import Button, Reply
from policy_kb.schema import ServiceItem
from policy_kb.search import Hit

MIN_WORD_CHARS = 2


def asks_if_qualifies(ctx: TurnContext) -> bool:
    """Whether the message asks if the person may apply or receive it ("能领吗", "可以办吗", "符合条件吗")."""
    return any(word in ctx.text for word in ctx.texts.words("asks_if_qualifies"))


def names_other(ctx: TurnContext, query: str, hit: Hit, item: ServiceItem) -> bool:
    """Whether the query names the record `hit` found by words of its names (two characters or more) that the item
    in context does not use ("辞职了公积金能取吗" says 公积金; "被辞退的能领吗" shares no such word with 离职提公积金).
    """
    names = ctx.services.kb.current.names_of(hit)
    own = " ".join([item.name, *item.aliases, *item.conditions, *item.common_errors])
    pieces = {query[start:start + MIN_WORD_CHARS] for start in range(len(query) - MIN_WORD_CHARS + 1)}
    return any(piece not in own and any(piece in name for name in names) for piece in pieces)


def circumstance_words(ctx: TurnContext, item: ServiceItem, query: str) -> list[str]:
    """The words of the query (two characters or more) that the item's conditions or common errors mention."""
    lines = [*item.conditions, *item.common_errors]
    words = ctx.services.kb.current.tokenizer.words(query)
    return list(dict.fromkeys(w for w in words if len(w) >= MIN_WORD_CHARS and any(w in line for line in lines)))


def circumstance_answer(ctx: TurnContext, item: ServiceItem, words: list[str], buttons: tuple[Button, ...]) -> Reply:
    """What the item's guide says of the circumstance, then its conditions."""
    texts = ctx.texts
    said = [line for line in (*item.conditions, *item.common_errors) if any(w in line for w in words)]
    lines = [texts.get("guide_circumstance", name=item.name, words="”“".join(words)), *(f"• {s}" for s in said)]
    rest = [c for c in item.conditions if c not in said]
    if rest:
        lines += [texts.get("guide_circumstance_conditions"), *(f"• {c}" for c in rest)]
    return Reply("\n".join(lines), buttons=buttons)
