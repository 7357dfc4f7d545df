"""Chinese text handling shared by search and NLU: normalisation and jieba tokenisation with a user
dictionary built from the knowledge base, plus character bigrams that keep matching robust to typos.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping

import jieba

jieba.setLogLevel(logging.WARNING)

_PUNCT = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65!-/:-@\[-`{-~…—·]+")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
# Where a chat message's clauses break: "行 谢谢 人工结束", "不想反映了 撤销吧" (people type spaces for commas).
CLAUSE_BREAK = re.compile(r"[\s，,。；;！!]+")


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower-case, punctuation and spaces folded to one space."""
    return _PUNCT.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def fold_width(text: str) -> str:
    """Full-width letters and digits to plain ones, one character for one, so offsets stay valid."""
    out = []
    for char in text:
        folded = unicodedata.normalize("NFKC", char)
        out.append(folded if len(folded) == 1 else char)
    return "".join(out)


def char_bigrams(text: str) -> list[str]:
    """Overlapping two-character pieces of every run of Chinese characters."""
    grams: list[str] = []
    for run in _CJK_RUN.findall(text):
        grams.extend(run[i:i + 2] for i in range(len(run) - 1))
    return grams


@functools.cache
def base_dictionary() -> tuple[dict[str, int], int]:
    """jieba's main dictionary, loaded once per process (it takes about a second); a worker pool loads it once
    for all its workers (`bot.worker_preload`).
    """
    base = jieba.Tokenizer()
    base.initialize()
    return base.FREQ, base.total


class Tokenizer:
    """A jieba tokenizer of its own (not jieba's global one) that knows the KB's words."""

    def __init__(self, user_words: Iterable[str] = ()) -> None:
        self._jieba = jieba.Tokenizer()
        freq, total = base_dictionary()
        # A copy of the shared dictionary: each KB snapshot adds its own words without touching the others.
        self._jieba.FREQ, self._jieba.total, self._jieba.initialized = dict(freq), total, True
        # Long official names would swallow shorter, useful words.
        self.user_words = frozenset(w.strip() for w in user_words if w and w.strip() and len(w.strip()) <= 12)
        for word in self.user_words:
            self._jieba.add_word(word, freq=2000)

    def words(self, text: str) -> list[str]:
        """jieba's search-mode words of the normalised text (sub-words of long words included). Without
        jieba's HMM guess at unknown words: the NLU's character n-grams already cover those, and the HMM
        was a third of a parse.
        """
        return [w for w in self._jieba.cut_for_search(normalise(text), HMM=False) if w.strip()]

    def terms(self, text: str) -> list[str]:
        """Index and query terms: words plus character bigrams."""
        norm = normalise(text)
        return [w for w in self._jieba.cut_for_search(norm) if w.strip()] + char_bigrams(norm)


class Synonyms:
    """Groups of words that mean the same here (房产证 = 不动产权证书). Expanding a text appends the other
    members of every group it mentions, so both sides of a match meet on common terms.

    Broader terms (上位词) work one way only: a question naming a country (去泰国玩) is also read as asking
    about 出国, but a question about 出国 is not read as one about 泰国.
    """

    def __init__(self, groups: Iterable[Iterable[str]], broader: Mapping[str, Iterable[str]] | None = None) -> None:
        # A word that normalises to nothing would be "in" every text.
        self._groups = [tuple(dict.fromkeys(n for n in (normalise(w) for w in g if w) if n)) for g in groups]
        self._groups = [g for g in self._groups if len(g) > 1]
        # The groups with a word that starts with a given character: a text can only mention the groups of its
        # own characters, so expand() and variants() test a few groups' words instead of all of them.
        self._groups_by_first: dict[str, set[int]] = {}
        for number, group in enumerate(self._groups):
            for word in group:
                self._groups_by_first.setdefault(word[0], set()).add(number)
        # Longest narrower word first, so 印度尼西亚 is replaced whole, not as 印度 + 尼西亚.
        pairs = {normalise(n): normalise(b) for b, narrower in (broader or {}).items() for n in narrower if n and b}
        self._broader = sorted(((n, b) for n, b in pairs.items() if n != b), key=lambda p: len(p[0]), reverse=True)

    @property
    def signature(self) -> str:
        """The groups and broader terms as one text: equal signatures expand every text alike."""
        return repr((self._groups, self._broader))

    @property
    def words(self) -> set[str]:
        """Every word of every group and every broader and narrower term (for the tokenizer's user dictionary)."""
        return {w for g in self._groups for w in g} | {w for pair in self._broader for w in pair}

    def generalise(self, text: str) -> str:
        """The text with each narrower term replaced by its broader one (去泰国玩 → 去出国玩)."""
        norm = normalise(text)
        for narrower, broader in self._broader:
            if narrower in norm:
                norm = norm.replace(narrower, broader)
        return norm

    def variants(self, text: str, limit: int = 8) -> list[str]:
        """The text, the text with its narrower terms generalised, and versions of the text with one
        mentioned synonym replaced in place by another member. The generalised text is an inference, so
        it is not rewritten by synonyms again: 日本签证 reads as 出国签证, never as 护照签证.
        """
        norm = normalise(text)
        out = list(dict.fromkeys([norm, self.generalise(norm)]))
        for group in self._groups_of(norm):
            for member in group:
                if member in norm:
                    out.extend(norm.replace(member, other) for other in group if other != member)
                    break
            if len(out) >= limit:
                break
        return out[:limit]

    def expand(self, text: str) -> str:
        """The text followed by the broader terms and the synonyms of what it mentions."""
        norm = normalise(text)
        general = self.generalise(norm)
        extra = [w for g in self._groups_of(norm + general) if any(v in norm or v in general for v in g)
                 for w in g if w not in norm]
        extra = list(dict.fromkeys([*(b for n, b in self._broader if n in norm and b not in norm), *extra]))
        return norm if not extra else norm + " " + " ".join(extra)

    def _groups_of(self, text: str) -> list[tuple[str, ...]]:
        """The groups that may be mentioned in `text` (a word of theirs starts with one of its characters), in
        their order.
        """
        numbers: set[int] = set()
        for character in set(text):
            numbers.update(self._groups_by_first.get(character, ()))
        return [self._groups[number] for number in sorted(numbers)]
