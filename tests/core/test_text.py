"""Synonym expansion, as the KB search reads a question: every group the question mentions is found."""

from __future__ import annotations

from core.text import Synonyms

GROUPS = [
    ["房产证", "不动产权证书"],
    ["房本", "房产证明"],  # starts with the same character as 房产证
    ["社保卡", "社会保障卡"],
    ["营业执照", "执照", " "],  # a blank word would be "in" every text
]
BROADER = {"出国": ["泰国", "日本"]}


def synonyms() -> Synonyms:
    return Synonyms(GROUPS, BROADER)


def test_a_question_gets_every_group_it_mentions_wherever_the_word_sits() -> None:
    expanded = synonyms().expand("我想补办社保卡，顺便问房本和房产证")
    for word in ("社会保障卡", "房产证明", "不动产权证书"):
        assert word in expanded
    assert "营业执照" not in expanded  # not mentioned: a blank synonym does not drag its group in


def test_a_word_inside_another_word_still_counts() -> None:
    assert "营业执照" in synonyms().expand("执照丢了")


def test_broader_terms_and_their_groups() -> None:
    expanded = synonyms().expand("去泰国玩要办什么")
    assert expanded.startswith("去泰国玩要办什么 ")
    assert "出国" in expanded
    assert "日本" not in expanded  # one way only: 出国 is not read as 日本


def test_variants_replace_one_mentioned_synonym_in_place() -> None:
    variants = synonyms().variants("房产证丢了")
    assert variants[0] == "房产证丢了"
    assert "不动产权证书丢了" in variants
    assert all("社会保障卡" not in v for v in variants)


def test_a_text_without_any_synonym_is_left_alone() -> None:
    assert synonyms().expand("今天天气怎么样") == "今天天气怎么样"
    assert synonyms().variants("今天天气怎么样") == ["今天天气怎么样"]
