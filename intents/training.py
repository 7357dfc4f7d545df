"""Training data in Rasa 3.x NLU format (`intents/data/nlu/*.yml`): read, and written back for export."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.yamlfile import load_yaml

TRAINING_DIR = Path(__file__).parent / "data" / "nlu"
# [text](entity) or [text]{"entity": "x", "value": "y"}
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<entity>[a-z_]+)(?::(?P<value>[^)]+))?\)|(?P<json>\{[^}]+\}))")


@dataclass(frozen=True)
class Annotation:
    """An entity marked in a training example."""

    entity: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Example:
    """One training utterance: plain text, its intent and its entity spans."""

    text: str
    intent: str
    entities: tuple[Annotation, ...] = field(default=())


def parse_annotated(line: str, intent: str) -> Example:
    """`办[护照](item)要多久` → Example("办护照要多久", intent, (Annotation("item", "护照", 1, 3),))."""
    import json

    text, entities, cursor = "", [], 0
    for match in _ANNOTATION.finditer(line):
        text += line[cursor:match.start()]
        shown = match.group("text")
        if match.group("json"):
            spec = json.loads(match.group("json"))
            entity, value = str(spec["entity"]), str(spec.get("value", shown))
        else:
            entity, value = match.group("entity"), match.group("value") or shown
        entities.append(Annotation(entity, value, len(text), len(text) + len(shown)))
        text += shown
        cursor = match.end()
    text += line[cursor:]
    return Example(text.strip(), intent, tuple(entities))


def read_nlu_file(path: Path) -> list[Example]:
    """The examples of one Rasa NLU YAML file."""
    data = load_yaml(path) or {}
    examples = []
    for block in data.get("nlu", []) or []:
        intent = block.get("intent")
        if not intent:
            continue  # lookup tables, synonyms and regexes carry no examples
        for line in str(block.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- "):
                examples.append(parse_annotated(line[2:].strip(), str(intent)))
    return examples


def read_training_data(paths: Iterable[Path] | Path = TRAINING_DIR) -> list[Example]:
    """All examples of a folder (every *.yml) or of the given files."""
    if not isinstance(paths, Path):
        files = list(paths)
    elif paths.is_dir():
        files = sorted(paths.glob("*.yml"))
    else:
        files = [paths]
    return [example for path in files for example in read_nlu_file(path)]


def annotate(example: Example) -> str:
    """The example back in Rasa's `[text](entity)` notation."""
    out, cursor = "", 0
    for ann in sorted(example.entities, key=lambda a: a.start):
        shown = example.text[ann.start:ann.end]
        out += example.text[cursor:ann.start]
        out += f"[{shown}]({ann.entity})" if ann.value == shown else \
            f'[{shown}]{{"entity": "{ann.entity}", "value": "{ann.value}"}}'
        cursor = ann.end
    return out + example.text[cursor:]
