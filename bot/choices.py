"""Turning "1", "第二个" or a button's payload back into the button the user meant."""

from __future__ import annotations

import re
from typing import Any

from intents.base import normalise

CN_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
# "2", "第二个", "选3", and as people say it: "看看第三个", "那第4个呢", "就第二项吧".
_ORDINAL = re.compile(r"^(?:那|就|我)?(?:选|要|看看|看下|看一下)?(第)?\s*([0-9]{1,2}|[一二两三四五六七八九十])\s*"
                      r"(?:个|项|条|号)?(?:吧|呢|啊)?$")
# "2 怎么申请", "第二个要什么材料", "3的材料": a number, then the question about that choice.
_NUMBER_FIRST = re.compile(r"^((?:第\s*)?(?:[0-9]{1,2}(?![0-9])|[一二两三四五六七八九十])\s*(?:个|项|条|号)?)"
                           r"\s*[，,、.。:：]?\s*(?:的)?(\S.*)$")


def choice_index(text: str) -> int | None:
    """The 1-based choice in "2", "第二个", "选3", or None if the text is not a bare choice."""
    match = _ORDINAL.match(text.strip())
    if not match:
        return None
    ordinal, token = match.group(1), match.group(2)
    if not token.isdigit() and not ordinal and not text.strip().startswith(("选", "要")):
        return None  # a lone "二" or "十" (or "那两个呢") is more likely a word than a choice
    return int(token) if token.isdigit() else CN_NUMERALS[token]


def resolve_choice(text: str, buttons: list[dict[str, Any]]) -> str | None:
    """The payload of the chosen button (by its number: `Button.number`, else its place, or by its title), or None
    when the text selects nothing on offer. `text` is normalised (`intents.base.normalise`).
    """
    index = choice_index(text)
    if index is None:
        # A button's title typed instead of pressed ("满意", "材料清单"), as a WeChat follower does.
        return next((str(b["payload"]) for b in buttons if normalise(str(b.get("title", ""))) == text), None)
    return next((str(b["payload"]) for place, b in enumerate(buttons, 1) if b.get("number", place) == index), None)


def leading_choice(text: str) -> tuple[int, str] | None:
    """The number a text starts with and the words after it: "2 怎么申请" → (2, "怎么申请"), "第二个" → (2, "");
    None when it does not start with a choice's number.
    """
    text = text.strip()
    bare = choice_index(text)
    if bare is not None:
        return bare, ""
    match = _NUMBER_FIRST.match(text)
    if not match:
        return None
    index = choice_index(match.group(1))
    return (index, match.group(2)) if index is not None else None
