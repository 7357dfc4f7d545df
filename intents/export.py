"""`yichuang nlu export-rasa DIR`: a Rasa 3.x project made from the same training data and the KB, so the
built-in NLU and Rasa DIET learn from exactly the same examples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import yaml

from core.yamlfile import load_yaml
from intents.entities import GAZETTEER_FILE
from intents.training import Example, annotate
from policy_kb.kb import KnowledgeBase

ENTITIES = ("item", "policy", "policy_domain", "enterprise_scale", "taxpayer_type", "industry", "phone", "case_no",
            "date")

CONFIG = {
    "recipe": "default.v1",
    "language": "zh",
    "assistant_id": "yichuang",
    "pipeline": [
        {"name": "JiebaTokenizer", "dictionary_path": "jieba_userdict"},
        {"name": "RegexFeaturizer", "use_lookup_tables": True, "use_regexes": True},
        {"name": "LexicalSyntacticFeaturizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 3},
        {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True, "random_seed": 1},
        {"name": "EntitySynonymMapper"},
        {"name": "FallbackClassifier", "threshold": 0.35},
    ],
    "policies": [],
}


class _Literal(str):
    """A block scalar in the YAML output (Rasa's `examples: |`)."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


yaml.add_representer(_Literal, _literal, Dumper=yaml.SafeDumper)


def _dump(data: object) -> str:
    return yaml.dump(data, Dumper=yaml.SafeDumper, allow_unicode=True, sort_keys=False)


def _examples_block(lines: Sequence[str]) -> _Literal:
    return _Literal("".join(f"- {line}\n" for line in lines))


def export_rasa_project(directory: Path, examples: Sequence[Example], kb: KnowledgeBase) -> dict[str, int]:
    """Write config.yml, domain.yml, data/nlu.yml and the jieba user dictionary. Returns counts."""
    (directory / "data").mkdir(parents=True, exist_ok=True)
    (directory / "jieba_userdict").mkdir(exist_ok=True)
    by_intent: dict[str, list[str]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(annotate(example))
    nlu: list[dict[str, object]] = [{"intent": i, "examples": _examples_block(lines)} for i, lines in by_intent.items()]
    # Lookup tables and synonyms come from the KB, so new items are recognised without new examples.
    item_names = sorted({w for i in kb.items.values() for w in (i.name, *i.aliases) if len(w) >= 2})
    nlu.append({"lookup": "item", "examples": _examples_block(item_names)})
    gazetteer = load_yaml(GAZETTEER_FILE) or {}
    for entity, groups in gazetteer.items():
        words = sorted({str(w) for value, ws in groups.items() for w in [value, *ws]})
        nlu.append({"lookup": entity, "examples": _examples_block(words)})
    synonyms = 0
    for item in kb.items.values():
        if item.aliases:
            nlu.append({"synonym": item.name, "examples": _examples_block(list(item.aliases))})
            synonyms += 1
    nlu.append({"regex": "phone", "examples": _examples_block([r"1[3-9][0-9]{9}"])})
    nlu.append({"regex": "case_no", "examples": _examples_block([r"(BBC|YS|YY)[0-9]{8}-[0-9]{4}"])})
    (directory / "data" / "nlu.yml").write_text(_dump({"version": "3.1", "nlu": nlu}), encoding="utf-8")
    (directory / "config.yml").write_text(_dump(CONFIG), encoding="utf-8")
    domain = {"version": "3.1", "intents": sorted(by_intent), "entities": list(ENTITIES)}
    (directory / "domain.yml").write_text(_dump(domain), encoding="utf-8")
    words = sorted({w for w in item_names if len(w) <= 12} | {p.title for p in kb.policies.values()})
    (directory / "jieba_userdict" / "kb.txt").write_text("".join(f"{w} 2000\n" for w in words), encoding="utf-8")
    return {"intents": len(by_intent), "examples": len(examples), "lookup_items": len(item_names),
            "synonyms": synonyms}
