"""The headcount an enterprise gives for its size ("我们二十几个人")."""

from __future__ import annotations

import pytest

from bot.flows.headcount import headcount


@pytest.mark.parametrize(("text", "people"), [
    ("我们二十几个人", 20), ("一百多名员工", 100), ("50人左右", 50), ("五六十个工人", 50), ("十几个人", 10),
    ("三千多人", 3000), ("一万两千人", 12000), ("公司有１５人", 15), ("就几个人", 5), ("两百来号人", 200),
])
def test_a_headcount_in_words_or_digits(text: str, people: int) -> None:
    assert headcount(text) == people


def test_no_headcount_without_people() -> None:
    assert headcount("我们是小厂") is None
    assert headcount("二十几年了") is None
