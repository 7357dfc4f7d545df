"""NLU evaluation in the same files as `rasa test nlu`: intent_report.json (per intent precision, recall,
F1, support and confusions) and errors.json (every wrong prediction).
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sklearn.metrics import classification_report
from sklearn.model_selection import StratifiedKFold

from intents.base import Parse
from intents.training import Example


@dataclass
class Evaluation:
    """Predictions for a test set and what they add up to."""

    gold: list[str]
    predicted: list[tuple[str, float]]
    texts: list[str]
    latencies_ms: list[float]

    @property
    def accuracy(self) -> float:
        """Share of texts whose intent was right."""
        return sum(g == p for g, (p, _) in zip(self.gold, self.predicted, strict=True)) / max(len(self.gold), 1)

    def report(self) -> dict[str, object]:
        """Rasa's intent_report.json: sklearn's classification report plus `confused_with` per intent."""
        labels = sorted(set(self.gold) | {p for p, _ in self.predicted})
        report: dict[str, object] = classification_report(
            self.gold, [p for p, _ in self.predicted], labels=labels, output_dict=True, zero_division=0)
        confusions: dict[str, Counter[str]] = defaultdict(Counter)
        for gold, (predicted, _) in zip(self.gold, self.predicted, strict=True):
            if gold != predicted:
                confusions[gold][predicted] += 1
        for label in labels:
            entry = report.get(label)
            if isinstance(entry, dict):
                entry["confused_with"] = dict(confusions[label].most_common(3))
        return report

    def errors(self) -> list[dict[str, object]]:
        """Rasa's errors.json."""
        return [{"text": t, "intent": g, "intent_prediction": {"name": p, "confidence": round(c, 4)}}
                for t, g, (p, c) in zip(self.texts, self.gold, self.predicted, strict=True) if g != p]

    def latency(self) -> tuple[float, float]:
        """p50 and p99 parse time in milliseconds."""
        ordered = sorted(self.latencies_ms) or [0.0]
        return ordered[len(ordered) // 2], ordered[max(int(len(ordered) * 0.99) - 1, 0)]

    def write(self, directory: Path) -> None:
        """intent_report.json and errors.json, as `rasa test nlu` writes them."""
        directory.mkdir(parents=True, exist_ok=True)
        dump = {"ensure_ascii": False, "indent": 2}
        (directory / "intent_report.json").write_text(json.dumps(self.report(), **dump), encoding="utf-8")  # type: ignore[arg-type]
        (directory / "errors.json").write_text(json.dumps(self.errors(), **dump), encoding="utf-8")  # type: ignore[arg-type]


Parser = Callable[[str], Parse]


def evaluate(parse: Parser, test: Sequence[Example]) -> Evaluation:
    """Run the parser over the test examples."""
    predicted, latencies = [], []
    for example in test:
        started = time.perf_counter()
        result = parse(example.text)
        latencies.append((time.perf_counter() - started) * 1000)
        predicted.append((result.intent, result.confidence))
    return Evaluation([e.intent for e in test], predicted, [e.text for e in test], latencies)


def cross_validate(examples: Sequence[Example], folds: int, make_parser: Callable[[Sequence[Example]], Parser],
                   seed: int = 1) -> Evaluation:
    """Stratified k-fold: train on k−1 parts, test on the held-out one, pool the predictions."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    intents = [e.intent for e in examples]
    pooled = Evaluation([], [], [], [])
    for train_index, test_index in splitter.split(examples, intents):
        parser = make_parser([examples[i] for i in train_index])
        part = evaluate(parser, [examples[i] for i in test_index])
        pooled.gold += part.gold
        pooled.predicted += part.predicted
        pooled.texts += part.texts
        pooled.latencies_ms += part.latencies_ms
    return pooled
