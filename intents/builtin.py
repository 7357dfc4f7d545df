"""The built-in NLU: exact commands first, then a linear classifier over jieba words and character
n-grams (TF-IDF → linear SVM with sigmoid-calibrated confidences); entities from the extractor.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from core import pickle_cache
from core.text import Tokenizer, fold_width, normalise
from intents.base import FALLBACK_INTENT, Parse
from intents.commands import CommandMatcher
from intents.entities import RECORD_NUMBER, EntityExtractor
from intents.personal import what_is_asked
from intents.trainer import FORK_TO_TRAIN, LOCK_KIND, TrainingChild, save_model
from intents.training import Example

if TYPE_CHECKING:  # scikit-learn is imported only to train: ~100 MB a worker that loads a cached model saves
    from sklearn.pipeline import Pipeline

log = logging.getLogger("intents.builtin")
MODEL_VERSION = "4"  # bump when features, estimator or the cached form change, so cached models are retrained
CHAR_NGRAMS = (1, 3)
_WHITE_SPACES = re.compile(r"\s\s+")
# A record number (BBC20261123-0001) is read as the word 编号: its digits say nothing of the intent, yet as
# character n-grams they matched whichever examples had the same date in them.
RECORD_PLACEHOLDER = " 编号 "
# Short messages (answers, commands, button titles: "一般纳税人", "确认", "都有") come back from many users
# word for word; their parse is kept. Longer questions rarely repeat and are parsed each time.
CACHED_PARSE_CHARS = 10
CACHED_PARSES = 4096
# Readings that a same-sounding typo of a known name may be behind (see BuiltinNLU._parse).
UNSURE_READINGS = frozenset({"out_of_scope", "chitchat"})


class WordSource(Protocol):
    """What the classifier needs of a tokenizer: the words of a text."""

    def words(self, text: str) -> list[str]:
        """The words of the (classifier's) text."""
        ...


class KnownWords:
    """The words of a fixed set of texts, worked out beforehand by the KB's tokenizer: all that training needs of
    it, so the child that trains (intents.trainer) need not read jieba's dictionary.
    """

    def __init__(self, examples: Sequence[Example], tokenizer: WordSource) -> None:
        self._words = {text: tokenizer.words(text) for text in {classifier_text(e.text) for e in examples}}

    def words(self, text: str) -> list[str]:
        """The words of one of the texts it was made for."""
        return self._words[text]


class WordAnalyzer:
    """jieba words of a text. The tokenizer is not pickled: it is attached again after loading."""

    def __init__(self, tokenizer: WordSource | None) -> None:
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> list[str]:
        assert self.tokenizer is not None, "attach a tokenizer after unpickling"
        return self.tokenizer.words(text)

    def __getstate__(self) -> dict[str, object]:
        return {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.tokenizer = None


def char_ngrams(text: str) -> list[str]:
    """Character n-grams within words padded with spaces: scikit-learn's `char_wb` analyzer (lower-cased,
    CHAR_NGRAMS), rewritten so that running the model does not import scikit-learn (a test checks they agree).
    """
    low, high = CHAR_NGRAMS
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            grams.append(padded[offset:offset + n])
            while offset + n < len(padded):
                offset += 1
                grams.append(padded[offset:offset + n])
            if offset == 0:  # a word shorter than n is counted once
                break
    return grams


def classifier_text(text: str) -> str:
    """What the classifier reads of a message: the normalised text with record numbers replaced."""
    return normalise(RECORD_NUMBER.sub(RECORD_PLACEHOLDER, fold_width(text)))


def fit_pipeline(examples: Sequence[Example], tokenizer: WordSource) -> Pipeline:
    """The scikit-learn pipeline (TF-IDF of words and character n-grams → calibrated linear SVM), fitted."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    features = FeatureUnion([
        ("words", TfidfVectorizer(analyzer=WordAnalyzer(tokenizer), sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=1)),
    ])
    classifier = CalibratedClassifierCV(LinearSVC(C=0.5), method="sigmoid", cv=3)
    pipeline = Pipeline([("features", features), ("classifier", classifier)])
    pipeline.fit([classifier_text(e.text) for e in examples], [e.intent for e in examples])
    return pipeline


@dataclass
class IntentModel:
    """The fitted classifier as plain arrays: the same probabilities as scikit-learn's predict_proba, without
    its per-call input validation (about 20 ms a message with 28 classes × 3 calibrated folds; this is
    ~0.05 ms) and without importing it. A message has a few dozen features, so they are counted in plain
    Python and only the product with the weights is a NumPy call: one row gather of a features ×
    (folds·classes) matrix. The word analyzer's tokenizer is attached after loading.
    """

    labels: tuple[str, ...]
    vocabularies: tuple[dict[str, int], dict[str, int]]  # words, character n-grams
    idf: tuple[list[float], list[float]]
    weights: np.ndarray  # features × (folds·classes)
    intercepts: np.ndarray  # (folds·classes)
    slopes: np.ndarray
    offsets: np.ndarray
    folds: int
    words: WordAnalyzer = field(default_factory=lambda: WordAnalyzer(None))

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, tokenizer: WordSource) -> IntentModel:
        """Compile a fitted pipeline of `fit_pipeline`."""
        words, chars = (vectorizer for _name, vectorizer in pipeline.named_steps["features"].transformer_list)
        folds = pipeline.named_steps["classifier"].calibrated_classifiers_
        weights = np.stack([f.estimator.coef_ for f in folds])  # folds × classes × features
        return cls(
            labels=tuple(str(c) for c in pipeline.classes_),
            vocabularies=(dict(words.vocabulary_), dict(chars.vocabulary_)),
            idf=(words.idf_.tolist(), chars.idf_.tolist()),
            weights=np.ascontiguousarray(weights.transpose(2, 0, 1).reshape(weights.shape[2], -1)),
            intercepts=np.stack([f.estimator.intercept_ for f in folds]).reshape(-1),
            slopes=np.array([[c.a_ for c in f.calibrators] for f in folds], dtype=float).reshape(-1),
            offsets=np.array([[c.b_ for c in f.calibrators] for f in folds], dtype=float).reshape(-1),
            folds=len(folds),
            words=WordAnalyzer(tokenizer),
        )

    def attach(self, tokenizer: Tokenizer) -> None:
        """Give the word analyzer its tokenizer (after loading from the cache)."""
        self.words = WordAnalyzer(tokenizer)

    def features(self, text: str) -> tuple[list[int], list[float]]:
        """Column indices and TF-IDF values (sublinear tf, each block L2-normalised) of one normalised text."""
        columns: list[int] = []
        values: list[float] = []
        offset = 0
        for tokens, vocabulary, idf in zip((self.words(text), char_ngrams(text)), self.vocabularies, self.idf,
                                           strict=True):
            counts: dict[int, int] = {}
            for token in tokens:
                index = vocabulary.get(token)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if counts:
                weights = [(1.0 + math.log(n)) * idf[i] for i, n in counts.items()]
                norm = math.sqrt(sum(w * w for w in weights))
                columns.extend(i + offset for i in counts)
                values.extend(w / norm for w in weights)
            offset += len(vocabulary)
        return columns, values

    def proba(self, text: str) -> np.ndarray:
        """Class probabilities of one normalised text, averaged over the calibrated folds."""
        columns, values = self.features(text)
        decision = self.intercepts + np.dot(values, self.weights[columns]) if columns else self.intercepts
        calibrated = (1.0 / (1.0 + np.exp(self.slopes * decision + self.offsets))).reshape(self.folds, -1)
        totals = calibrated.sum(axis=1, keepdims=True)
        if totals.all():  # the usual case, in fewer NumPy calls (each costs a few µs on arrays this small)
            return (calibrated / totals).sum(axis=0) / self.folds  # type: ignore[no-any-return]
        n_classes = calibrated.shape[1]
        normalised = np.divide(calibrated, totals, out=np.full_like(calibrated, 1 / n_classes), where=totals != 0)
        return normalised.mean(axis=0)  # type: ignore[no-any-return]

    def rank(self, text: str, limit: int | None = None) -> list[tuple[str, float]]:
        """The intents (every one, or the `limit` best) with their probabilities, best first."""
        probabilities = self.proba(classifier_text(text))
        order = np.argsort(-probabilities)[:limit]
        return [(self.labels[i], float(probabilities[i])) for i in order]


def train(examples: Sequence[Example], tokenizer: WordSource) -> IntentModel:
    """Fit the classifier on the examples."""
    return IntentModel.from_pipeline(fit_pipeline(examples, tokenizer), tokenizer)


def fingerprint(examples: Sequence[Example], tokenizer_words: Sequence[str]) -> str:
    """A hash of everything the model depends on."""
    return pickle_cache.digest([MODEL_VERSION, *(f"{e.intent}\t{e.text}" for e in examples),
                                *sorted(tokenizer_words)])


def load_or_train(examples: Sequence[Example], tokenizer: Tokenizer, tokenizer_words: Sequence[str],
                  cache_dir: Path | None, child: TrainingChild | None = None) -> IntentModel:
    """The cached model for exactly this data, or a newly trained one (then cached).

    With a cache, training runs in a forked child where the platform has fork (Linux): `child` when the server
    forked one early (`TrainingChild.early`, which holds the cache's training lock), else one forked now, under
    the lock, so that workers starting together train once and the others load the result (intents.trainer).
    """
    key = fingerprint(examples, tokenizer_words)
    path = cache_dir / f"nlu-{key}.pkl" if cache_dir is not None else None
    try:
        with contextlib.ExitStack() as stack:
            # The early child holds the lock already; without it, a directory that takes no lock file takes no model.
            writable = child is not None or (path is not None and stack.enter_context(
                pickle_cache.making(path.parent, LOCK_KIND)))
            if path is not None and path.exists():
                cached = _load(path, tokenizer)
                if cached is not None:
                    log.info("NLU model loaded from %s", path.name)
                    return cached
                log.warning("NLU cache %s is unreadable; retraining", path.name)
            if path is not None and not writable:
                log.warning("NLU model not cached: %s cannot be written", path.parent)
            started = time.perf_counter()
            model = _train_and_save(examples, tokenizer, path if writable else None, child)
            log.info("NLU model trained on %s examples in %.1f s", len(examples), time.perf_counter() - started)
            return model
    finally:
        if child is not None:
            child.close()


def _train_and_save(examples: Sequence[Example], tokenizer: Tokenizer, path: Path | None,
                    child: TrainingChild | None) -> IntentModel:
    if path is not None and FORK_TO_TRAIN:
        child = child or TrainingChild.fork()
        try:
            code = child.train(examples, KnownWords(examples, tokenizer), path)
        finally:
            child.close()
        model = _load(path, tokenizer) if code == 0 else None
        if model is not None:
            return model
        log.warning("NLU training in a child process failed (exit code %s); training here", code)
    model = train(examples, tokenizer)
    if path is not None:
        save_model(model, path)
    return model


def _load(path: Path, tokenizer: Tokenizer) -> IntentModel | None:
    """The cached model, or None when the file cannot be read."""
    model = pickle_cache.read(path)
    if not isinstance(model, IntentModel):
        return None
    model.attach(tokenizer)
    return model


class BuiltinNLU:
    """Commands, classifier and entities together. `extractor` is read on every call, so a KB reload that
    brings new items is recognised at once. The parses of short messages are kept (`CACHED_PARSE_CHARS`) for
    as long as the extractor and the day stay the same: "明天" is another date tomorrow.
    """

    def __init__(self, model: IntentModel, commands: CommandMatcher, extractor: Callable[[], EntityExtractor],
                 threshold: float, today: Callable[[], date]) -> None:
        self._model = model
        self._commands = commands
        self._extractor = extractor
        self._threshold = threshold
        self._today = today
        self._kept: dict[str, Parse] = {}
        self._kept_for: tuple[EntityExtractor, date] | None = None

    async def parse(self, text: str) -> Parse:
        """Understand one message (synchronous work; well under a millisecond)."""
        return self.parse_sync(text)

    def parse_sync(self, text: str) -> Parse:
        """The same, for callers without an event loop (evaluation, benchmarks)."""
        extractor, today = self._extractor(), self._today()
        if len(text) > CACHED_PARSE_CHARS:
            return self._parse(text, extractor, today)
        if self._kept_for is None or self._kept_for[0] is not extractor or self._kept_for[1] != today:
            self._kept, self._kept_for = {}, (extractor, today)
        parse = self._kept.get(text)
        if parse is None:
            if len(self._kept) >= CACHED_PARSES:
                self._kept.clear()  # a rare flood of distinct short texts; the common ones come back at once
            parse = self._kept[text] = self._parse(text, extractor, today)
        return parse

    def _parse(self, text: str, extractor: EntityExtractor, today: date) -> Parse:
        entities = tuple(extractor.extract(text, today))
        command = self._commands.match(text)
        if command is not None:
            return Parse(text, command, 1.0, entities, ((command, 1.0),))
        ranking = self._model.rank(what_is_asked(text), limit=10)
        if ranking[0][0] in UNSURE_READINGS or ranking[0][1] < self._threshold:
            # typed with a pinyin input method: "公基金怎么提取" read as out of scope, its 公积金 unknown
            corrected = extractor.sound_corrected(text)
            if corrected != text:
                reread = self._model.rank(what_is_asked(corrected), limit=10)
                if reread[0][0] not in UNSURE_READINGS and reread[0][1] >= self._threshold:
                    ranking, entities = reread, tuple(extractor.extract(corrected, today))
        intent, confidence = ranking[0]
        if confidence < self._threshold:
            intent = FALLBACK_INTENT
        return Parse(text, intent, confidence, entities, tuple(ranking))
