"""Entities: KB gazetteer (exact names and aliases, then fuzzy for typos), YAML word lists, and regexes
for phone numbers, case numbers, dates (今天, 昨天, 下周一, 上礼拜三, 11月25日) and 身份证号 (recognised, never kept
in clear).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

from rapidfuzz import fuzz, process

from core.logging import mask_id_numbers
from core.text import char_bigrams, fold_width
from core.yamlfile import load_yaml
from intents.base import Entity

GAZETTEER_FILE = Path(__file__).parent / "data" / "gazetteer.yml"
FUZZY_CANDIDATES = 20
_PHONE = re.compile(r"(?<![0-9])1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])")
RECORD_NUMBER = re.compile(r"(?<![A-Za-z])(?:BBC|YS|YY|GD)[0-9]{8}-[0-9]{4}(?![0-9])", re.IGNORECASE)
_ID_CARD = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])"
)
_WEEKDAYS = "一二三四五六日天"
_RELATIVE_DAYS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3, "昨天": -1, "昨日": -1,
                  "前天": -2, "大前天": -3}
_WEEKS_AWAY = {None: 0, "下": 1, "下个": 1, "下下": 2, "上": -1, "上个": -1, "上上": -2}
_DATE_PATTERNS = [
    re.compile(r"(?P<y>20[0-9]{2})[-/.年](?P<m>[0-9]{1,2})[-/.月](?P<d>[0-9]{1,2})[日号]?"),
    re.compile(r"(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})[日号]?"),
    re.compile(r"(?P<rel>大后天|后天|明天|明日|今天|今日|大前天|前天|昨天|昨日)"),
    re.compile(r"(?P<next>下下|下个?|上上|上个?)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天])"),
]


class _KbLike(Protocol):
    @property
    def items(self) -> Mapping[str, Any]: ...

    @property
    def policies(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Gazetteer:
    """Phrase → (entity, value), matched longest first."""

    phrases: Mapping[str, tuple[str, str]]

    @classmethod
    def build(cls, kb_items: Iterable[tuple[str, Iterable[str]]] = (),
              kb_policies: Iterable[tuple[str, Iterable[str]]] = (), path: Path = GAZETTEER_FILE) -> Gazetteer:
        """Word lists of the YAML file plus every KB item (official name → its names and aliases)."""
        phrases: dict[str, tuple[str, str]] = {}
        data = load_yaml(path) or {}
        for entity, groups in data.items():
            for value, words in (groups or {}).items():
                for word in [value, *words]:
                    phrases.setdefault(str(word).lower(), (entity, str(value)))
        for name, aliases in kb_policies:
            for word in [name, *aliases]:
                if len(word) >= 2:
                    phrases.setdefault(word.lower(), ("policy", name))
        for name, aliases in kb_items:
            for word in [name, *aliases]:
                if len(word) >= 2:
                    phrases[word.lower()] = ("item", name)  # items win: they are what people ask about most
        return cls(phrases)


    @classmethod
    def from_kb(cls, kb: _KbLike) -> Gazetteer:
        """The gazetteer of a KB snapshot: its items (names, aliases) and policies (titles, keywords)."""
        return cls.build(kb_items=[(i.name, i.aliases) for i in kb.items.values()],
                         kb_policies=[(p.title, p.keywords) for p in kb.policies.values()])


class EntityExtractor:
    """Finds entities in one message. `today` anchors relative dates (Asia/Shanghai)."""

    def __init__(self, gazetteer: Gazetteer, speller: Callable[[str], str] | None = None) -> None:
        self._gazetteer = gazetteer
        self._speller = speller
        # Phrases by their first character, longest first: a scan looks only at phrases that can start here.
        self._by_first: dict[str, list[str]] = {}
        for phrase in sorted(gazetteer.phrases, key=len, reverse=True):
            self._by_first.setdefault(phrase[0], []).append(phrase)
        self._item_names = [p for p, (e, _) in gazetteer.phrases.items() if e == "item" and len(p) >= 3]
        self._names_by_bigram: dict[str, set[str]] = {}
        for name in self._item_names:
            for gram in char_bigrams(name):
                self._names_by_bigram.setdefault(gram, set()).add(name)

    def sound_corrected(self, text: str) -> str:
        """`text` with same-sounding typos of the KB's words put right by the `speller` ("公基金怎么提取" →
        "公积金怎么提取"); the same length, so entity offsets hold for both. Unchanged without a speller.
        """
        return self._speller(text) if self._speller is not None else text

    def extract(self, text: str, today: date) -> list[Entity]:
        """Entities with character offsets into `text`, non-overlapping, in text order."""
        text = fold_width(text)  # １３９… is a phone number too; offsets are unchanged
        found: list[Entity] = []
        taken = [False] * len(text)

        def add(entity: str, value: str, start: int, end: int, extractor: str) -> None:
            if any(taken[start:end]):
                return
            for i in range(start, end):
                taken[i] = True
            found.append(Entity(entity, value, start, end, extractor))

        for match in _ID_CARD.finditer(text):
            add("id_number", mask_id_numbers(match.group()), match.start(), match.end(), "regex")
        for match in _PHONE.finditer(text):
            add("phone", re.sub(r"[ -]", "", match.group()), match.start(), match.end(), "regex")
        for match in RECORD_NUMBER.finditer(text):
            add("case_no", match.group().upper(), match.start(), match.end(), "regex")
        for pattern in _DATE_PATTERNS:
            for match in pattern.finditer(text):
                day = _resolve_date(match, today)
                if day is not None:
                    add("date", day.isoformat(), match.start(), match.end(), "regex")
        lowered = text.lower()
        position = 0
        while position < len(lowered):
            for phrase in self._by_first.get(lowered[position], ()):
                if lowered.startswith(phrase, position) and not any(taken[position:position + len(phrase)]):
                    entity, value = self._gazetteer.phrases[phrase]
                    add(entity, value, position, position + len(phrase), "gazetteer")
                    position += len(phrase) - 1
                    break
            position += 1
        if not any(e.entity == "item" for e in found):
            self._fuzzy_item(text, lowered, add)
        return sorted(found, key=lambda e: e.start)

    def _fuzzy_item(self, text: str, lowered: str, add) -> None:  # type: ignore[no-untyped-def]
        """One item named with a typo ("二手防过户"): the best alignment of an item name inside the text."""
        if len(lowered) < 3:
            return
        # Only names sharing at least two character pairs with the text can reach the cut-off.
        shared = Counter(n for gram in set(char_bigrams(lowered)) for n in self._names_by_bigram.get(gram, ()))
        candidates = [name for name, count in shared.most_common(FUZZY_CANDIDATES) if count >= 2]
        if not candidates:
            return
        found = process.extractOne(lowered, candidates, scorer=fuzz.partial_ratio, score_cutoff=80)
        if found is None:
            return
        name = found[0]
        alignment = fuzz.partial_ratio_alignment(name, lowered)
        if alignment is not None and alignment.dest_end - alignment.dest_start >= 2:
            add("item", self._gazetteer.phrases[name][1], alignment.dest_start, alignment.dest_end, "fuzzy")


def _resolve_date(match: re.Match[str], today: date) -> date | None:
    groups = match.groupdict()
    try:
        if groups.get("rel"):
            return today + timedelta(days=_RELATIVE_DAYS[groups["rel"]])
        if groups.get("wd"):
            weekday = _WEEKDAYS.index(groups["wd"])
            weekday = min(weekday, 6)  # 日 and 天 are both Sunday
            this_week = today - timedelta(days=today.weekday())
            weeks = _WEEKS_AWAY[groups.get("next")]
            day = this_week + timedelta(days=7 * weeks + weekday)
            return day + timedelta(days=7) if weeks == 0 and day < today else day
        year = int(groups["y"]) if groups.get("y") else today.year
        day = date(year, int(groups["m"]), int(groups["d"]))
        if not groups.get("y") and day < today - timedelta(days=60):
            day = date(year + 1, day.month, day.day)  # "1月5日" said in November means next January
        return day
    except ValueError:
        return None  # 2月30日
