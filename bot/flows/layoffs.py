"""The 裁员率 (layoff rate) an enterprise tells ("去年裁了两个人，总共25个人", "裁员率4%多"), for a policy that
limits it (失业保险稳岗返还): worked out and compared with the limit, instead of quoting the rule back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.flows.headcount import headcount
from core.text import fold_width
from policy_kb.schema import LayoffLimit

NUMBER = r"([0-9]+|[零〇一二两三四五六七八九十百千]+)"
LAID_OFF = re.compile(r"(?:裁(?:员|掉|退)?|辞退|减员|减少|走)了?\s*" + NUMBER + r"\s*(?:多|来)?\s*(?:个|名|位)?\s*"
                      r"(?:人|员工|职工|工人)?")
NONE_LAID_OFF = re.compile(r"没(?:有)?裁|未裁员|不裁员|没辞退|没有辞退|一个(?:都|也)?没裁")
RATE = re.compile(r"裁员率\s*(?:是|为|约|大概|有)?\s*([0-9]+(?:\.[0-9]+)?)\s*%")


@dataclass(frozen=True)
class Layoffs:
    """What the message told: people laid off and insured staff, or the rate itself (then both are None)."""

    percent: float
    laid_off: int | None = None
    staff: int | None = None


def layoffs_told(text: str, staff_before: int | None = None) -> Layoffs | None:
    """The layoff rate the message gives or lets one work out, from the staff it says or told before
    (`staff_before`: "那要是裁了4个呢"); None when it gives neither.
    """
    text = fold_width(text)
    rate = RATE.search(text)
    if rate is not None:
        return Layoffs(float(rate.group(1)))
    if NONE_LAID_OFF.search(text):
        return Layoffs(0.0)
    match = LAID_OFF.search(text)
    if match is None:
        return None
    laid_off = headcount(match.group(1) + "人")
    rest = text[:match.start()] + " " + text[match.end():]
    staff = headcount(rest) or staff_before
    if laid_off is None or not staff or laid_off > staff:
        return None
    return Layoffs(round(100 * laid_off / staff, 1), laid_off, staff)


def limit_for(rule: LayoffLimit, told: Layoffs) -> tuple[float, bool]:
    """The limit that applies to the enterprise told about, and whether it is the small-firm one (≤ 30 insured
    staff may lay off up to 20%). With only a rate told, the general limit.
    """
    if rule.small_firm_staff is not None and rule.small_firm_max_percent is not None and \
            told.staff is not None and told.staff <= rule.small_firm_staff:
        return rule.small_firm_max_percent, True
    return rule.max_percent, False
