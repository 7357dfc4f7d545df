"""Reading "我有1、3、4", "1到4都有", "都有" or "都没有" as the set of material numbers a person has."""

from __future__ import annotations

import re

from bot.choices import CN_NUMERALS
from core.text import fold_width

_RANGE = re.compile(r"([0-9]{1,2})\s*(?:到|至|-|~|～)\s*([0-9]{1,2})")
_NUMBER = re.compile(r"[0-9]{1,2}")
_CN_ORDINAL = re.compile(r"第([一二两三四五六七八九十])")
ALL_WORDS = ("都有", "全都有", "全有", "都齐了", "齐了", "都带了", "全部都有", "都备齐")
NONE_WORDS = ("都没有", "一个都没有", "全没有", "都没", "啥都没有", "什么都没有")


def material_numbers(text: str, count: int) -> set[int] | None:
    """The 1-based numbers the text says the person has, or None if it says nothing of the kind."""
    text = fold_width(text).strip()
    if any(w in text for w in NONE_WORDS):
        return set()
    if any(w in text for w in ALL_WORDS) and not _NUMBER.search(text):
        return set(range(1, count + 1))
    numbers: set[int] = set()
    for start, end in _RANGE.findall(text):
        numbers.update(range(int(start), int(end) + 1))
    text = _RANGE.sub(" ", text)
    numbers.update(int(n) for n in _NUMBER.findall(text))
    numbers.update(CN_NUMERALS[c] for c in _CN_ORDINAL.findall(text))
    numbers = {n for n in numbers if 1 <= n <= count}
    return numbers or None
