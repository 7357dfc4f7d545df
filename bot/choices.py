"""Turning "1", "第二个" or a button's payload back into the button the user meant."""

from __future__ import annotations

import re

CN_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_ORDINAL = re.compile(r"^(?:选|要)?第?\s*([0-9]{1,2}|[一二两三四五六七八九十])\s*(?:个|项|条|号)?$")


def choice_index(text: str) -> int | None:
    """The 1-based choice in "2", "第二个", "选3", or None if the text is not a bare choice."""
    match = _ORDINAL.match(text.strip())
    if not match:
        return None
    token = match.group(1)
    if not token.isdigit() and not text.strip().startswith(("第", "选", "要")):
        return None  # a lone "二" or "十" is more likely a word than a choice
    return int(token) if token.isdigit() else CN_NUMERALS[token]


def resolve_choice(text: str, buttons: list[dict[str, str]]) -> str | None:
    """The payload of the chosen button, or None when the text selects nothing on offer."""
    index = choice_index(text)
    if index is not None and 1 <= index <= len(buttons):
        return buttons[index - 1]["payload"]
    return None
