"""The built-in NLU: exact commands first, then a linear classifier over jieba words and character
n-grams (TF-IDF → linear SVM with sigmoid-calibrated confidences); entities from the extractor.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from core.text import Tokenizer, normalise
from intents.base import FALLBACK_INTENT, Parse
from intents.commands import CommandMatcher
from intents.entities import EntityExtractor
from intents.training import Example

log = logging.getLogger("intents.builtin")
MODEL_VERSION = "2"  # bump when features or estimator change, so cached models are retrained


class WordAnalyzer:
    """jieba words of a text. The tokenizer is not pickled: it is attached again after loading."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer: Tokenizer | None = tokenizer

    def __call__(self, text: str) -> list[str]:
        assert self.tokenizer is not None, "attach a tokenizer after unpickling"
        return self.tokenizer.words(text)

    def __getstate__(self) -> dict[str, object]:
        return {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.tokenizer = None


def _pipeline(tokenizer: Tokenizer) -> Pipeline:
    features = FeatureUnion([
        ("words", TfidfVectorizer(analyzer=WordAnalyzer(tokenizer), sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1)),
    ])
    classifier = CalibratedClassifierCV(LinearSVC(C=0.5), method="sigmoid", cv=3)
    return Pipeline([("features", features), ("classifier", classifier)])


class CompiledClassifier:
    """The fitted pipeline as plain arrays: the same probabilities as sklearn's predict_proba, without its
    per-call input validation (about 20 ms a message with 27 classes × 3 calibrated folds; this is ~0.05 ms).
    A message has a few dozen features, so they are counted in plain Python and only the product with the
    weights is a NumPy call: one row gather of a features × (folds·classes) matrix.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        union = pipeline.named_steps["features"]
        self.blocks: list[tuple[Callable[[str], list[str]], dict[str, int], list[float], int]] = []
        offset = 0
        for _name, vectorizer in union.transformer_list:
            self.blocks.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_.tolist(), offset))
            offset += len(vectorizer.vocabulary_)
        folds = pipeline.named_steps["classifier"].calibrated_classifiers_
        weights = np.stack([f.estimator.coef_ for f in folds])  # folds × classes × features
        self.shape = weights.shape[:2]
        self.weights = np.ascontiguousarray(weights.transpose(2, 0, 1).reshape(weights.shape[2], -1))
        self.intercepts = np.stack([f.estimator.intercept_ for f in folds]).reshape(-1)
        self.slopes = np.array([[c.a_ for c in f.calibrators] for f in folds], dtype=float).reshape(-1)
        self.offsets = np.array([[c.b_ for c in f.calibrators] for f in folds], dtype=float).reshape(-1)

    def features(self, text: str) -> tuple[list[int], list[float]]:
        """Column indices and TF-IDF values (sublinear tf, each block L2-normalised) of one text."""
        columns: list[int] = []
        values: list[float] = []
        for analyzer, vocabulary, idf, offset in self.blocks:
            counts: dict[int, int] = {}
            for token in analyzer(text):
                index = vocabulary.get(token)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            weights = [(1.0 + math.log(n)) * idf[i] for i, n in counts.items()]
            norm = math.sqrt(sum(w * w for w in weights))
            columns.extend(i + offset for i in counts)
            values.extend(w / norm for w in weights)
        return columns, values

    def proba(self, text: str) -> np.ndarray:
        """Class probabilities, averaged over the calibrated folds."""
        columns, values = self.features(text)
        decision = self.intercepts + (np.asarray(values) @ self.weights[columns] if columns else 0.0)
        calibrated = (1.0 / (1.0 + np.exp(self.slopes * decision + self.offsets))).reshape(self.shape)
        totals = calibrated.sum(axis=1, keepdims=True)
        n_classes = self.shape[1]
        normalised = np.divide(calibrated, totals, out=np.full_like(calibrated, 1 / n_classes), where=totals != 0)
        return normalised.mean(axis=0)  # type: ignore[no-any-return]


@dataclass
class IntentModel:
    """A trained classifier and the labels it knows."""

    pipeline: Pipeline
    labels: tuple[str, ...]
    compiled: CompiledClassifier | None = None

    def attach(self, tokenizer: Tokenizer) -> None:
        """Give the word analyzer its tokenizer (after loading from the cache) and compile."""
        words = self.pipeline.named_steps["features"].transformer_list[0][1]
        words.analyzer.tokenizer = tokenizer
        self.compiled = CompiledClassifier(self.pipeline)

    def rank(self, text: str, limit: int | None = None) -> list[tuple[str, float]]:
        """The intents (every one, or the `limit` best) with their probabilities, best first."""
        if self.compiled is None:
            self.compiled = CompiledClassifier(self.pipeline)
        probabilities = self.compiled.proba(normalise(text))
        order = np.argsort(-probabilities)[:limit]
        return [(self.labels[i], float(probabilities[i])) for i in order]

    def __getstate__(self) -> dict[str, object]:
        return {"pipeline": self.pipeline, "labels": self.labels, "compiled": None}


def train(examples: Sequence[Example], tokenizer: Tokenizer) -> IntentModel:
    """Fit the classifier on the examples."""
    pipeline = _pipeline(tokenizer)
    pipeline.fit([normalise(e.text) for e in examples], [e.intent for e in examples])
    return IntentModel(pipeline, tuple(str(c) for c in pipeline.classes_))


def fingerprint(examples: Sequence[Example], tokenizer_words: Sequence[str]) -> str:
    """A hash of everything the model depends on."""
    digest = hashlib.sha256(MODEL_VERSION.encode())
    for example in examples:
        digest.update(f"{example.intent}\t{example.text}\n".encode())
    for word in sorted(tokenizer_words):
        digest.update(word.encode() + b"\n")
    return digest.hexdigest()[:24]


def load_or_train(examples: Sequence[Example], tokenizer: Tokenizer, tokenizer_words: Sequence[str],
                  cache_dir: Path | None) -> IntentModel:
    """The cached model for exactly this data, or a newly trained one (then cached)."""
    key = fingerprint(examples, tokenizer_words)
    path = cache_dir / f"nlu-{key}.pkl" if cache_dir is not None else None
    if path is not None and path.exists():
        try:
            with path.open("rb") as handle:
                model: IntentModel = pickle.load(handle)
            model.attach(tokenizer)
            log.info("NLU model loaded from %s", path.name)
            return model
        except Exception:
            log.warning("NLU cache %s is unreadable; retraining", path.name)
    started = time.perf_counter()
    model = train(examples, tokenizer)
    log.info("NLU model trained on %s examples in %.1f s", len(examples), time.perf_counter() - started)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob("nlu-*.pkl"):
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # per process: workers training at once must not share it
        with tmp.open("wb") as handle:
            pickle.dump(model, handle)
        tmp.replace(path)  # atomic: a concurrent reader sees the old file or the whole new one
    return model


class BuiltinNLU:
    """Commands, classifier and entities together. `extractor` is read on every call, so a KB reload that
    brings new items is recognised at once.
    """

    def __init__(self, model: IntentModel, commands: CommandMatcher, extractor: Callable[[], EntityExtractor],
                 threshold: float, today: Callable[[], date]) -> None:
        self._model = model
        self._commands = commands
        self._extractor = extractor
        self._threshold = threshold
        self._today = today

    async def parse(self, text: str) -> Parse:
        """Understand one message (synchronous work; well under a millisecond)."""
        return self.parse_sync(text)

    def parse_sync(self, text: str) -> Parse:
        """The same, for callers without an event loop (evaluation, benchmarks)."""
        entities = tuple(self._extractor().extract(text, self._today()))
        command = self._commands.match(text)
        if command is not None:
            return Parse(text, command, 1.0, entities, ((command, 1.0),))
        ranking = self._model.rank(text, limit=10)
        intent, confidence = ranking[0]
        if confidence < self._threshold:
            intent = FALLBACK_INTENT
        return Parse(text, intent, confidence, entities, tuple(ranking))
