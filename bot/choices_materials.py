"""Reading "我有1、3、4", "1到4都有", "有身份证和房产证", "都有" or "都没有" as the set of material numbers a person
has.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.choices import CN_NUMERALS
from core.text import fold_width

_RANGE = re.compile(r"([0-9]{1,2})\s*(?:到|至|-|~|～)\s*([0-9]{1,2})")
_NUMBER = re.compile(r"[0-9]{1,2}")
_CN_ORDINAL = re.compile(r"第([一二两三四五六七八九十])")
ALL_WORDS = ("都有", "全都有", "全有", "都齐了", "齐了", "都带了", "全部都有", "都备齐")
NONE_WORDS = ("都没有", "一个都没有", "全没有", "都没", "啥都没有", "什么都没有")
# Not 有 of a problem or of people: "房产证有问题" says nothing was brought.
_HAVING = re.compile(r"有(?!问题|点问题|错|误|疑问|意见|困难|人|事)|带了|带着|备齐|备好|准备了|齐了")
# "就差照片", "只缺3": everything else is had.
_ONLY_MISSING = re.compile(r"^(?:我|现在|目前)?(?:就|只|还)(?:差|缺)")
_ASKING = re.compile(r"[吗？?]|什么|啥|咋|哪些|哪个|哪几|怎么|要不要|是不是|需不需要")
# Materials named in words: the text is cut into phrases at these, and a phrase saying one is missing is skipped.
_PHRASE_BREAK = re.compile(r"[，,、;；。.!！\s]|和|及|与|跟|还有|以及|另外|(?<=[本证书照明表件卡])有(?!效|关|限)")
_MISSING = ("没", "缺", "还差", "就差", "只差", "差一", "除了", "忘带", "忘了", "丢了", "找不到", "弄丢")
# A space after a statement ends a clause: "身份证 房产证 合同都有 结婚证没有", "1到4都有 5没有".
_STATEMENT_THEN_SPACE = re.compile(r"(?<=[有了带齐全缺])\s+")
# A phrase that says had or missing before what it names ("我有身份证", "还有买卖合同", "缺照片"): the phrases
# after it, with no statement of their own, are said of the same ("我有身份证和银行卡 租房合同没有").
_LEADING_STATEMENT = re.compile(r"^(?:我们|我|还|也|都|另外|就|只)*(?:有|带了|带着|备了|没有|没带|忘带了?|缺|差)")
_LEADING_MISSING = re.compile(r"^(?:我|还|就|只)*(?:没有|没带|没|缺少|缺|差|除了)")
# Clauses for numbers: "没有3、4" is one clause (both missing), "有1、2，没有3" two.
_NUMBER_WORDS = re.compile(r"[0-9]+|第|[一二两三四五六七八九十]|到|至|-|~|～|个|项|号")
_CLAUSE_BREAK = re.compile(r"[，,;；。!！]")
# Words around a material's name in "我已经带了身份证" or "户口本也有了", taken off the ends of a phrase.
_AROUND = re.compile(r"^(?:我们俩|我俩|俩人|两个人|两人|双方|夫妻俩|夫妻|我们|我|已经|都|也|还|只|就|带了|带着|带|"
                     r"备齐了|备好了|准备好了|准备了|拿了|有了|有)+|"
                     r"(?:都|也|还|已经|有了|有|带了|带着|备齐了|备好了|准备好了|准备了|齐了|没带|没有|没拿|忘带了|忘了带|"
                     r"没|了|的)+$")
# Too general to name one material ("材料都有" is not about a material called 材料).
_GENERAL = frozenset({"材料", "证件", "资料", "东西", "手续", "原件", "复印件", "文件", "证明", "证"})


def material_numbers(text: str, count: int, names: Sequence[Sequence[str]] = ()) -> set[int] | None:
    """The 1-based numbers the text says the person has, or None if it says nothing of the kind. `names[i]` are
    the names material i + 1 goes by, for answers that name materials instead of numbering them. What a clause
    says is missing ("1到12都有，13没有", "缺3，别的都有", "除了结婚证都有") is not had.
    """
    text = fold_width(text).strip()
    had, missing = _named(text, names)
    for clause in _clauses(text):
        (missing if _says_missing(clause) else had).update(_numbers_in(clause))
    had = {n for n in had - missing if 1 <= n <= count}
    if any(w in text for w in NONE_WORDS):
        return had  # "我有身份证，其他都没有", "1有，别的都没有"
    # "就差照片" has all but the photo; "还缺啥" asks, and has nothing
    only_missing = _ONLY_MISSING.match(text) and not _ASKING.search(text)
    if (any(w in text for w in ALL_WORDS) or only_missing) and not had:
        if not only_missing and not missing and _all_of_something(text):
            return None  # "我俩身份证都带了" with no 身份证 on the list as such: all of that, not of everything
        return set(range(1, count + 1)) - missing
    return had or None


def names_only_materials(text: str, names: Sequence[Sequence[str]], *, numbers: bool = False,
                         other_material: Callable[[str], bool] | None = None) -> bool:
    """Whether the text speaks of these materials and nothing else ("我有身份证和照片", not "我有身份证，想办护照"):
    each of its phrases names one of them (or, with `numbers`, is a material's number: "4也有", or is what
    `other_material` says is some other material: "户口本没带" to a passport's list) or is only words like 有,
    也带了, 都; at least one phrase names one of these.
    """
    found = False
    for phrase in _PHRASE_BREAK.split(fold_width(text)):
        core = _AROUND.sub("", _LEADING_MISSING.sub("", phrase))
        if numbers and _numbers_in(core) and len(_NUMBER_WORDS.sub("", core)) < 2:
            found = True
            continue
        if len(core) < 2:
            continue
        if not _material_in(phrase, names):
            if other_material is not None and other_material(core):
                continue
            return False
        found = True
    # "都有了", "剩下的都齐了": about the whole list
    return found or (numbers and len(text) <= 6 and any(w in text for w in (*ALL_WORDS, *NONE_WORDS)))


def _all_of_something(text: str) -> bool:
    """Whether "都有"/"都带了" is said of something named in front of it ("身份证都带了"), not of the whole list
    ("都有了", "材料都带了", "我们都齐了").
    """
    for word in ALL_WORDS:
        if word in text:
            before = _AROUND.sub("", text.split(word)[0].strip(" ，,")).strip()
            return len(before) >= 2 and before not in _GENERAL
    return False


def _says_missing(text: str) -> bool:
    return any(word in text for word in _MISSING)


def _numbers_in(clause: str) -> set[int]:
    """"1到4", "1、3", "第一和第三" as numbers."""
    numbers: set[int] = set()
    for start, end in _RANGE.findall(clause):
        numbers.update(range(int(start), int(end) + 1))
    clause = _RANGE.sub(" ", clause)
    numbers.update(int(n) for n in _NUMBER.findall(clause))
    numbers.update(CN_NUMERALS[c] for c in _CN_ORDINAL.findall(clause))
    return numbers


def names_nothing_but_materials(text: str, is_material: Callable[[str], bool]) -> bool:
    """Whether every phrase of the text is a material's name, with only words like 有, 带了, 也 around it
    ("我有身份证和租房合同"), not naming the matter too ("我有身份证，想办居住证", "护照 我有身份证").
    """
    cores = [_AROUND.sub("", _LEADING_MISSING.sub("", p)) for p in _PHRASE_BREAK.split(fold_width(text))]
    cores = [core for core in cores if core]
    return bool(cores) and all(is_material(core) for core in cores)


def states_having(text: str) -> bool:
    """Whether the text says what the person has ("我有1、3", "身份证带了", "都有"), not asks ("有身份证就行吗")."""
    text = fold_width(text)
    return bool(_HAVING.search(text) or _ONLY_MISSING.match(text)) and not _ASKING.search(text)


def _named(text: str, names: Sequence[Sequence[str]]) -> tuple[set[int], set[int]]:
    """The numbers of the materials named in the text as had and as missing: each whose name (or an alias) is
    inside a phrase, else the first whose name holds the phrase ("租赁合同" of 房屋租赁合同). In a clause that says
    something is missing ("没有结婚证和银行卡"), what it names is missing, except a phrase that says it is had.
    """
    had: set[int] = set()
    missing: set[int] = set()
    if not names:
        return had, missing
    for clause in _clauses(text):
        negated = _says_missing(clause)
        led: bool | None = None  # what a leading statement earlier in the clause said: had (True) or missing
        for phrase in _PHRASE_BREAK.split(clause):
            own = False if _says_missing(phrase) else (True if _HAVING.search(phrase) else None)
            if own is not None:
                led = own if _LEADING_STATEMENT.match(phrase) else None
            number = _material_in(phrase, names)
            if number:
                had_here = own if own is not None else (led if led is not None else not negated)
                (had if had_here else missing).update(number)
    return had, missing


def _clauses(text: str) -> list[str]:
    """The clauses of an answer: at punctuation, and at a space after a statement ("合同都有 结婚证没有")."""
    return [part for clause in _CLAUSE_BREAK.split(text) for part in _STATEMENT_THEN_SPACE.split(clause)]


def _material_in(phrase: str, names: Sequence[Sequence[str]]) -> set[int]:
    """The materials a phrase names: each whose name is in it, else the first whose name holds it."""
    core = _AROUND.sub("", _LEADING_MISSING.sub("", phrase))
    if len(core) < 2 or core in _GENERAL:
        return set()
    exact = {number for number, aliases in enumerate(names, 1)
             if any(len(alias) >= 2 and alias in core for alias in aliases)}
    if exact:
        return exact
    # Only part of a name: the first material holding it, as lists put the main documents first (身份证 →
    # 2 买卖双方身份证明, not 7 授权委托书及代理人身份证明).
    partial = next((number for number, aliases in enumerate(names, 1) if any(core in a for a in aliases)), None)
    return {partial} if partial is not None else set()
