"""How many people an enterprise says it has ("我们二十几个人", "一百多名员工", "50人左右"), for the 企业规模
question of the policy narrowing: a headcount given instead of a size.
"""

from __future__ import annotations

import re

from core.text import fold_width

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
FEW = 5  # "几个人": a handful
HEADCOUNT = re.compile(r"([0-9]+|[零〇一二两三四五六七八九十百千万几]+)\s*(?:多|来|余)?\s*(?:个|名|号)?\s*"
                       r"(?:人|员工|职工|工人)")


def headcount(text: str) -> int | None:
    """The number of people the message gives ("二十几个人" → 20, "一百多名员工" → 100), or None."""
    match = HEADCOUNT.search(fold_width(text))
    if match is None:
        return None
    number = match.group(1)
    return int(number) if number.isdigit() else _chinese_number(number)


def without_headcount(text: str) -> str:
    """The text with the headcount in it blanked out ("60个人" holds 个人, which is no 个人所得税)."""
    return HEADCOUNT.sub(" ", fold_width(text))


def _chinese_number(numeral: str) -> int | None:
    """"二十几" → 20, "一百二十" → 120, "五六十" → 50, "三千" → 3000, "几" → FEW; None for no number."""
    total, section, digit = 0, 0, None
    previous_was_digit = False
    for char in numeral:
        if char in DIGITS:
            if not previous_was_digit:  # "五六十": the first of two neighbouring digits
                digit = DIGITS[char]
            previous_was_digit = True
            continue
        previous_was_digit = False
        if char == "几":
            digit = None if section or total else FEW  # "二十几" adds nothing; "几" alone is a few
            continue
        unit = UNITS[char]
        if unit == 10000:
            total += (section + (digit or 0)) * unit
            section = 0
        else:
            section += (digit if digit is not None else 1) * unit
        digit = None
    value = total + section + (digit or 0)
    return value or None
