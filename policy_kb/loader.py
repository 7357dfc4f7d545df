"""Reading the YAML seed files under policy_kb/data/ (or another folder of the same shape)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from core.yamlfile import load_yaml
from policy_kb.content import KbContent, KbValidationError, locate_error
from policy_kb.schema import Bundle, Policy, ServiceItem

DATA_DIR = Path(__file__).parent / "data"
M = TypeVar("M", bound=BaseModel)
YAML_ORIGIN_PREFIX = "yaml:"  # the origin of every seed record starts with this


def _document(path: Path, source: str) -> dict[str, Any]:
    try:
        data = load_yaml(path) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else "?"
        raise KbValidationError(source, f"行 {row}", "yaml", str(getattr(exc, "problem", exc))) from None
    if not isinstance(data, dict):
        raise KbValidationError(source, 0, "-", "the file must be a mapping")
    return data


def _records(data: dict[str, Any], key: str, source: str) -> list[Any]:
    records = data.get(key, [])
    if not isinstance(records, list):
        raise KbValidationError(source, 0, key, "must be a list")
    return records


def _parse(model: type[M], raw: Any, source: str, row: int) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        field_name, problem = locate_error(exc)
        name = raw.get("code") or raw.get("id") or raw.get("name") if isinstance(raw, dict) else None
        raise KbValidationError(source, f"{row}{f'（{name}）' if name else ''}", field_name, problem) from None


def load_yaml_dir(directory: Path = DATA_DIR) -> KbContent:
    """Load items/*.yml, policies/*.yml and material_aliases.yml; validate every record and the whole."""
    content = KbContent()
    for path in sorted((directory / "items").glob("*.yml")):
        source = f"{YAML_ORIGIN_PREFIX}items/{path.name}"
        document = _document(path, source)
        for row, raw in enumerate(_records(document, "items", source), 1):
            item = _parse(ServiceItem, raw, source, row)
            content.items.append(item)
            content.origins[f"item:{item.code}"] = source
        for row, raw in enumerate(_records(document, "bundles", source), 1):
            bundle = _parse(Bundle, raw, source, row)
            content.bundles.append(bundle)
            content.origins[f"bundle:{bundle.code}"] = source
    for path in sorted((directory / "policies").glob("*.yml")):
        source = f"{YAML_ORIGIN_PREFIX}policies/{path.name}"
        for row, raw in enumerate(_records(_document(path, source), "policies", source), 1):
            policy = _parse(Policy, raw, source, row)
            content.policies.append(policy)
            content.origins[f"policy:{policy.id}"] = source
    aliases = directory / "material_aliases.yml"
    if aliases.exists():
        for row, group in enumerate(_records(_document(aliases, "material_aliases.yml"), "aliases",
                                                 "material_aliases.yml"), 1):
            if not isinstance(group, list) or len(group) < 2 or not all(isinstance(g, str) for g in group):
                raise KbValidationError("material_aliases.yml", row, "aliases", "each group is a list of 2+ names")
            content.material_aliases.append(tuple(group))
    content.check()
    return content


@dataclass(frozen=True)
class Vocabulary:
    """The words search needs besides the records: synonym groups, question fillers and bundle cues."""

    synonym_groups: tuple[tuple[str, ...], ...] = ()
    broader_terms: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (出国, (泰国, 日本, ...)): one way only
    fillers: tuple[str, ...] = ()
    bundle_cues: tuple[str, ...] = ()


def load_vocabulary(directory: Path = DATA_DIR) -> Vocabulary:
    """synonyms.yml (`groups`, `broader`) and fillers.yml (`fillers`, `bundle_cues`); missing files mean none."""
    synonyms = load_yaml(directory / "synonyms.yml") if (directory / "synonyms.yml").exists() else {}
    fillers = load_yaml(directory / "fillers.yml") if (directory / "fillers.yml").exists() else {}
    return Vocabulary(
        synonym_groups=tuple(tuple(map(str, g)) for g in (synonyms or {}).get("groups", [])),
        broader_terms=tuple((str(broad), tuple(map(str, narrower)))
                            for broad, narrower in ((synonyms or {}).get("broader") or {}).items()),
        fillers=tuple(map(str, (fillers or {}).get("fillers", []))),
        bundle_cues=tuple(map(str, (fillers or {}).get("bundle_cues", []))),
    )
