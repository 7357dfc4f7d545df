"""Search over items, bundles and policies: jieba words + character bigrams scored with BM25 (bm25s),
then the best candidates re-ranked by fuzzy name matching (rapidfuzz) for typos and short names.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import jieba
import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from core import pickle_cache
from core.pinyin import SoundCorrector
from core.text import Synonyms, Tokenizer, normalise

log = logging.getLogger("policy_kb.search")
INDEX_VERSION = "1"  # bump when terms(), expand(), _characters() or BM25 change: cached indexes are rebuilt
CANDIDATES = 40
# ... and as many again by their names alone: a record the question names (股东变更登记 → 企业变更登记) can
# rank low on the whole text when a large catalogue has many short names sharing its common word (变更).
NAME_CANDIDATES = 20
# A hit below this is "no confident answer": better to ask than to name the wrong item.
CONFIDENT = 0.55
BUNDLE_WITHOUT_CUE = 0.95
# A single item when the question asks for several services: far enough behind a bundle it is part of that the
# bundle is answered, not offered beside the item ("出生证、户口、医保能一起办吗").
ITEM_WHEN_SEVERAL = 0.9
# A bundle is named by a question that asks for several services at once and names at least two of its
# items (出生证、户口、医保能一起办吗).
PART_NAMED = 0.5
# With no word asking for several, a question asks for the bundle when its clauses name this many of its items
# at least PART_NAMED_ALONE each, or two of them by their full names.
PARTS_NAMED_WITHOUT_CUE = 3
PART_NAMED_ALONE = 0.75
PART_NAMED_FULLY = 0.95
PART_CLAUSES = re.compile(r"[\s，,。、；;！!？?]+|还要|还有|以及|和|跟")
# A record found only after a same-sounding typo was corrected (社保咔 → 社保卡) counts a little less.
HOMOPHONE = 0.9
# Readings of recent questions kept (`SearchIndex._read`): a turn searches the same text for several kinds
# (the flows' claims: items and bundles, then policies, then all three for the fallback's suggestions).
READINGS_KEPT = 32


class BM25(bm25s.BM25):
    """bm25s's BM25 that adds up a question's postings with one `np.add.at` over all its terms, not one per
    term: the same float32 additions in the same order, so the same scores, in half the time (20 µs instead
    of 40 for a question, and a turn scores two indexes; issue 9). A test checks it against bm25s's own.
    """

    @staticmethod
    def _compute_relevance_from_scores(data: np.ndarray, indptr: np.ndarray, indices: np.ndarray, num_docs: int,
                                       query_tokens_ids: np.ndarray, dtype: np.dtype) -> np.ndarray:
        scores = np.zeros(num_docs, dtype=dtype)
        if len(query_tokens_ids):
            starts, ends = indptr[query_tokens_ids].tolist(), indptr[query_tokens_ids + 1].tolist()
            postings = [slice(start, end) for start, end in zip(starts, ends, strict=True)]
            np.add.at(scores, np.concatenate([indices[p] for p in postings]),
                      np.concatenate([data[p] for p in postings]))
        return scores


@dataclass(frozen=True)
class SearchDoc:
    """One searchable record: its names (matched fuzzily and by terms) and further text (terms only)."""

    kind: str  # item, bundle, policy
    key: str
    title: str
    names: tuple[str, ...]
    text: str = ""
    facets: dict[str, str] = field(default_factory=dict)  # window, domain: for filters
    weight: float = 1.0  # local, curated records rank above a large imported catalogue on a tie
    parts: tuple[str, ...] = ()  # a bundle's items (their keys)


@dataclass(frozen=True)
class Hit:
    """A search result with a score in [0, 1]."""

    kind: str
    key: str
    title: str
    score: float

    @property
    def confident(self) -> bool:
        """Whether the score is high enough to answer with this record without asking."""
        return self.score >= CONFIDENT


@dataclass(frozen=True)
class _Reading:
    """A question as the index reads it, before the kinds asked for are picked out (never changed in place)."""

    scores: np.ndarray  # BM25 of its terms, per record
    by_name: np.ndarray  # BM25 of its core's characters against the records' names, per record
    cores: list[str]  # the question without fillers, per synonym variant
    several: bool  # it asks for several services at once (a bundle cue)


class SearchIndex:
    """An immutable index; rebuild it to change the content."""

    def __init__(self, docs: Sequence[SearchDoc], tokenizer: Tokenizer, synonyms: Synonyms,
                 names: NameMatcher, cache_dir: Path | None = None) -> None:
        self._docs = list(docs)
        self._matcher = names
        self._tokenizer = tokenizer
        self._synonyms = synonyms
        self._names = [tuple(dict.fromkeys(normalise(n).replace(" ", "") for n in d.names if n)) for d in self._docs]
        self._corrector = SoundCorrector([*synonyms.words, *(n for names in self._names for n in names)])
        self._bm25, self._names_bm25 = self._term_indexes(cache_dir)
        self._kinds = {kind: np.array([d.kind == kind for d in self._docs], dtype=bool)
                       for kind in {d.kind for d in self._docs}}
        self._weights = np.array([d.weight for d in self._docs], dtype=np.float32)
        self._position = position = {(d.kind, d.key): i for i, d in enumerate(self._docs)}
        self._parts = {i: np.array([position[("item", k)] for k in d.parts if ("item", k) in position], dtype=np.int64)
                       for i, d in enumerate(self._docs) if d.parts}
        self._readings: dict[str, _Reading] = {}  # oldest first

    def __len__(self) -> int:
        return len(self._docs)

    def _term_indexes(self, cache_dir: Path | None) -> tuple[BM25, BM25]:
        """The BM25 indexes of the records' terms and of their names' characters. Cutting every record with
        jieba is most of a KB's build (0.5 s of a worker's start-up with the Guangdong catalogue), so with a
        `cache_dir` they are read from there when built before from the same records, words and synonyms, and
        stored there when not.
        """
        if not self._docs:
            return BM25(), BM25()
        if cache_dir is None:
            return self._build_term_indexes()
        key = pickle_cache.digest([INDEX_VERSION, jieba.__version__, bm25s.__version__, self._synonyms.signature,
                                   *sorted(self._tokenizer.user_words),
                                   *(repr((d.names, d.text)) for d in self._docs), repr(self._names)])
        path = cache_dir / f"kb-index-{key}.pkl"
        # Workers starting (or reloading) together: one builds, the others wait for it and read its file.
        with pickle_cache.making(cache_dir, "kb-index"):
            cached = pickle_cache.read(path)
            if isinstance(cached, tuple) and len(cached) == 2 and all(isinstance(c, BM25) for c in cached):
                return cached
            indexes = self._build_term_indexes()
            try:
                pickle_cache.write(path, indexes, replaces="kb-index-*.pkl")
            except OSError as exc:  # a read-only data dir: the next start builds it again
                log.warning("search index not cached in %s: %s", path.parent, exc)
        return indexes

    def _build_term_indexes(self) -> tuple[BM25, BM25]:
        started = time.perf_counter()
        terms, names = BM25(), BM25()
        terms.index([self._tokenizer.terms(self._synonyms.expand(" ".join(d.names) + " " + d.text)) or ["<empty>"]
                     for d in self._docs], show_progress=False)
        names.index([_characters(record_names) or ["<empty>"] for record_names in self._names], show_progress=False)
        log.debug("search index built for %s records in %.1f s", len(self._docs), time.perf_counter() - started)
        return terms, names

    def search(self, query: str, kinds: Sequence[str] | None = None, limit: int = 5,
               facets: dict[str, str] | None = None) -> list[Hit]:
        """The best matches, best first; empty when nothing matches at all. When nothing matches confidently
        as written, the question is read once more with same-sounding typos of known words corrected.
        """
        norm = normalise(query)
        if not norm or not self._docs:
            return []
        hits = self._rank(norm, kinds, facets)
        if not (hits and hits[0].confident):
            corrected = self._corrector.correct(norm)
            if corrected != norm:
                best = {(h.kind, h.key): h for h in hits}
                for hit in self._rank(corrected, kinds, facets):
                    scaled = Hit(hit.kind, hit.key, hit.title, round(hit.score * HOMOPHONE, 4))
                    known = best.get((hit.kind, hit.key))
                    if known is None or scaled.score > known.score:
                        best[(hit.kind, hit.key)] = scaled
                hits = sorted(best.values(), key=lambda h: h.score, reverse=True)
        return hits[:limit]

    def sound_corrected(self, text: str) -> str:
        """`text` with same-sounding typos of known names and words put right ("公基金" → "公积金"), as the search
        reads a question again when nothing matches as written; the same length as `text`.
        """
        return self._corrector.correct(text)

    def core(self, question: str) -> str:
        """The question without filler words and spaces."""
        return self._matcher.core(question)

    def asks_for_several(self, question: str) -> bool:
        """Whether the question asks about several services at once ("能一起办吗": a bundle cue)."""
        return self._matcher.asks_for_several(normalise(question))

    def without_bundle_cues(self, text: str) -> str:
        """`text` without the words that ask for several services at once (一起, 哪些手续)."""
        return self._matcher.without_bundle_cues(text)

    def names_only(self, query: str, hit: Hit) -> bool:
        """Whether the question does nothing but name the record `hit` found for it: apart from filler words,
        every character is one of a single name's, once same-sounding typos are corrected ("社报卡补半" → 补办社保卡).
        False when it says more ("社保卡补办不了").
        """
        names = self._names[self._position[(hit.kind, hit.key)]]
        norm = normalise(query)
        if self._only_names(norm, names):
            return True
        corrected = self._corrector.correct(norm)
        return corrected != norm and self._only_names(corrected, names)

    def is_the_title_of(self, query: str, hit: Hit) -> bool:
        """Whether the question, apart from filler words, is the title of the record `hit` found ("企业开办", the
        bundle's own title; not an alias several records come close to, like 营业执照怎么办).
        """
        return self._matcher.core(normalise(query)) == self._matcher.core(normalise(hit.title))

    def _only_names(self, text: str, names: tuple[str, ...]) -> bool:
        core = self._matcher.core(text)
        return len(core) >= 2 and any(set(core) <= set(name) for name in names)

    def _rank(self, norm: str, kinds: Sequence[str] | None, facets: dict[str, str] | None) -> list[Hit]:
        """Every candidate of the normalised question, best first."""
        reading = self._read(norm)
        scores = reading.scores
        mask = np.ones(len(self._docs), dtype=bool)
        if kinds:
            mask &= np.logical_or.reduce([self._kinds.get(k, np.zeros_like(mask)) for k in kinds])
        if facets:
            mask &= np.array([all(d.facets.get(k) == v for k, v in facets.items()) for d in self._docs])
        scores = np.where(mask & (scores > 0), scores, 0)
        if not np.any(scores):
            return []
        cores = reading.cores
        # Candidates: the best on the whole text, and among the records matched at all, the best by name alone.
        top = np.union1d(_best(scores, CANDIDATES), _best(np.where(scores > 0, reading.by_name, 0), NAME_CANDIDATES))
        best_bm25 = float(scores[top].max())
        # A bundle answers a question about several services; otherwise the single item wins a tie.
        several = reading.several or self._clauses_name_a_bundle(norm, top)
        bundle_factor = 1.0 if several else BUNDLE_WITHOUT_CUE
        named_by_doc = self._named(cores, top)
        hits = []
        for position, index in enumerate(top):
            doc = self._docs[int(index)]
            named = float(named_by_doc[position])
            if several and int(index) in self._parts:
                parts = self._named(cores, self._parts[int(index)])
                if np.count_nonzero(parts >= PART_NAMED) >= 2:
                    named = max(named, float(parts.max()))
            relative = float(scores[index]) / best_bm25
            # Confidence comes from how well the question names the record; BM25 breaks ties among them.
            score = named * (0.85 + 0.15 * relative) * float(self._weights[index])
            if doc.kind == "bundle":
                score *= bundle_factor
            elif bundle_factor == 1.0:
                score *= ITEM_WHEN_SEVERAL
            hits.append(Hit(doc.kind, doc.key, doc.title, round(min(score, 1.0), 4)))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits


    def _clauses_name_a_bundle(self, norm: str, top: np.ndarray) -> bool:
        """Whether the question's clauses name several items of one bundle among the candidates, each its own
        ("孩子刚生 要上户口 还要办医保 社保卡": 出生登记, 医保, 社保卡), asking for them all though no word asks for
        several; one clause naming several ("二手房过户": every 过户 of the bundle) does not.
        """
        bundles = [int(i) for i in top if int(i) in self._parts]
        if not bundles:
            return False
        cores = [core for core in (self._matcher.core(c) for c in PART_CLAUSES.split(norm)) if len(core) >= 2]
        if len(cores) < 2:
            return False  # most questions: one clause
        for bundle in bundles:
            named: dict[int, float] = {}
            for core in cores:
                by_part = self._named([core], self._parts[bundle])
                best = int(by_part.argmax())
                named[best] = max(named.get(best, 0.0), float(by_part[best]))
            if sum(score >= PART_NAMED_ALONE for score in named.values()) >= PARTS_NAMED_WITHOUT_CUE or \
                    sum(score >= PART_NAMED_FULLY for score in named.values()) >= 2:
                return True
        return False

    def _read(self, norm: str) -> _Reading:
        """What ranking needs of a normalised question whatever kinds it is asked for, kept for the next searches
        of the same text (the newest READINGS_KEPT questions).
        """
        reading = self._readings.get(norm)
        if reading is not None:
            return reading
        terms = self._tokenizer.terms(self._synonyms.expand(norm))
        scores = self._bm25.get_scores(terms) if terms else np.zeros(len(self._docs), dtype=np.float32)
        cores = [c for c in dict.fromkeys(self._matcher.core(v) for v in self._synonyms.variants(norm)) if c]
        name_terms = _characters(cores)
        by_name = self._names_bm25.get_scores(name_terms) if name_terms else np.zeros_like(scores)
        reading = _Reading(scores, by_name, cores, self._matcher.asks_for_several(norm))
        if len(self._readings) >= READINGS_KEPT:
            self._readings.pop(next(iter(self._readings)), None)
        self._readings[norm] = reading
        return reading

    def _named(self, cores: list[str], docs: np.ndarray) -> np.ndarray:
        """NameMatcher.similarity of the best (core, name) pair of each doc, computed in one C-level matrix."""
        names = [name for index in docs for name in self._names[int(index)]]
        owner = np.array([position for position, index in enumerate(docs) for _ in self._names[int(index)]])
        if not cores or not names:
            return np.zeros(len(docs))
        common = process.cdist(cores, names, scorer=LCSseq.similarity, dtype=np.int32).astype(float)
        name_len = np.array([len(n) for n in names], dtype=float)
        core_len = np.array([len(c) for c in cores], dtype=float)[:, None]
        of_name = common / name_len
        of_question = 0.8 * common / core_len
        # The question read inside a longer name: its characters must sit there as words, not one by one
        # (学车报名 in 科学中心活动报名 shares 学 and 报名; 护照 in 普通护照签发 is a word of it).
        pairs = [_pairs(core) for core in cores]
        for row, column in zip(*np.nonzero(of_question > of_name), strict=True):
            of_question[row, column] *= _share_found(pairs[row], names[column])
        similarity = np.maximum(of_name, of_question)
        similarity[common < np.minimum(2, name_len)] = 0.0
        best_per_name = similarity.max(axis=0)
        named = np.zeros(len(docs))
        np.maximum.at(named, owner, best_per_name)
        return named


def _best(scores: np.ndarray, count: int) -> np.ndarray:
    """The positions of the (at most) `count` highest positive scores, in no order."""
    count = min(count, int(np.count_nonzero(scores)))
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    return np.argpartition(-scores, count - 1)[:count]


def _characters(names: Sequence[str]) -> list[str]:
    """The names' characters and pairs of neighbouring characters: terms for matching names alone."""
    terms: list[str] = []
    for name in names:
        terms.extend(name)
        terms.extend(name[i:i + 2] for i in range(len(name) - 1))
    return terms


def _pairs(text: str) -> tuple[str, ...]:
    """The distinct pairs of neighbouring characters."""
    return tuple({text[i:i + 2] for i in range(len(text) - 1)})


def _share_found(pairs: tuple[str, ...], name: str) -> float:
    """The share of a question's character pairs (`_pairs`) that occur in the name (1.0 when it has none)."""
    if not pairs:
        return 1.0
    return sum(pair in name for pair in pairs) / len(pairs)


class NameMatcher:
    """How closely a question names a record: the share of the name's characters that the question
    contains in order (longest common subsequence), after filler words are removed from the question.
    "二手房过户要带啥" names "二手房过户" fully; "二手防过户" (a typo) names it 4/5; "今天天气怎么样" names nothing.
    """

    def __init__(self, fillers: Sequence[str], bundle_cues: Sequence[str] = ()) -> None:
        # longest first, then in a fixed order: "我想问" before "想问下" in a set's order left "下" of "我想问下"
        self._fillers = sorted({normalise(f) for f in fillers if f}, key=lambda f: (-len(f), f))
        self._bundle_cues = tuple(normalise(c) for c in bundle_cues if c)

    def asks_for_several(self, question: str) -> bool:
        """Whether the question asks about several services at once (一起办, 哪些手续...)."""
        text = normalise(question)
        return any(cue in text for cue in self._bundle_cues)

    def without_bundle_cues(self, text: str) -> str:
        """`text` with every bundle cue taken out."""
        for cue in self._bundle_cues:
            text = text.replace(cue, "")
        return text

    def core(self, question: str) -> str:
        """The question without fillers and spaces."""
        text = normalise(question)
        for filler in self._fillers:
            text = text.replace(filler, "")
        return text.replace(" ", "")

    @staticmethod
    def similarity(core: str, name: str) -> float:
        """In [0, 1]: 1 when the whole name appears in the question in order."""
        name = name.replace(" ", "")
        if not core or not name:
            return 0.0
        common = LCSseq.similarity(core, name)
        if common < min(2, len(name)):
            return 0.0
        covered_name = common / len(name)
        # A long official name asked about by a short question ("护照" → 普通护照签发): the question is
        # fully inside the name, which is good evidence but weaker than naming the whole thing, and only
        # as good as its words are found there whole (_share_found).
        covered_question = 0.8 * common / len(core)
        if covered_question > covered_name:
            covered_question *= _share_found(_pairs(core), name)
        return max(covered_name, covered_question)
