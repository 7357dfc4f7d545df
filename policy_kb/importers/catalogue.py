"""Import of the national-standard service-item catalogue (国家标准事项目录) as published by provincial
portals, one JSON object a line (TASK_CODE, TASK_NAME, DEPT_NAME, handle_time, material_intro, ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.yamlfile import load_yaml
from policy_kb.content import KbContent, locate_error
from policy_kb.schema import ServiceItem

RULES_FILE = Path(__file__).parent.parent / "data" / "catalogue.yml"
_DAYS = re.compile(r"^\s*(\d+)\s*[（(]\s*(工作日|自然日)\s*[)）]\s*$")
_SPLIT = re.compile(r"[\n；;]+")


@dataclass
class CatalogueReport:
    """What an import did: records read, kept and skipped (line number and why)."""

    read: int = 0
    imported: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Rules:
    origin: str
    windows: list[tuple[str, list[str]]]
    empty: frozenset[str]


def _rules() -> _Rules:
    data = load_yaml(RULES_FILE)
    return _Rules(origin=data["origin"], windows=[(w["window"], list(w["match"])) for w in data["windows"]],
                  empty=frozenset(str(v) for v in data["empty_values"]))


def _text(value: Any, rules: _Rules) -> str:
    text = str(value or "").strip()
    return "" if text in rules.empty else text


def _days(value: Any) -> int | None:
    match = _DAYS.match(str(value or ""))
    # A limit in natural days is stored as-is: the catalogue rarely uses them and the guide states them.
    return int(match.group(1)) if match else None


def _window(row: dict[str, Any], rules: _Rules) -> str:
    haystack = " ".join([*map(str, row.get("theme_category") or []), str(row.get("DEPT_NAME") or ""),
                         str(row.get("TASK_NAME") or "")])
    for window, words in rules.windows:
        if any(w in haystack for w in words):
            return window
    return "综合"


def _materials(value: Any, rules: _Rules) -> list[dict[str, Any]]:
    names = value if isinstance(value, list) else _SPLIT.split(_text(value, rules))
    unique = dict.fromkeys(n.strip() for n in map(str, names) if n and n.strip() and n.strip() not in rules.empty)
    return [{"name": name[:200]} for name in unique]


def catalogue_row_to_item(row: dict[str, Any], rules: _Rules | None = None) -> ServiceItem:
    """One catalogue record as a ServiceItem (raises ValueError/ValidationError when it cannot be)."""
    rules = rules or _rules()
    code, name = _text(row.get("TASK_CODE"), rules), _text(row.get("TASK_NAME"), rules)
    if not code:
        raise ValueError("TASK_CODE is empty")
    if not name:
        raise ValueError("TASK_NAME is empty")
    location = re.sub(r"^办理地点[:：]\s*", "", _text(row.get("handle_location"), rules))
    short = _text(row.get("matter_short"), rules)
    conditions = _text(row.get("accept_standard"), rules)
    item_type = _text(row.get("TASK_TYPE_TEXT"), rules) or "公共服务"
    return ServiceItem.model_validate({
        "code": code,
        "name": name,
        "aliases": [short] if short and short != name else [],
        "department": _text(row.get("DEPT_NAME"), rules),
        "item_type": item_type,
        "window": _window(row, rules),
        "conditions": [conditions] if conditions else [],
        "materials": _materials(row.get("material_intro"), rules),
        "legal_days": _days(row.get("handle_time")),
        "promised_days": _days(row.get("handle_time_limit")),
        "location": location,
        "phone": _text(row.get("consult_phone"), rules),
        "online_url": _text(row.get("URL"), rules),
        "source": _text(row.get("AREA_CODE_TEXT"), rules) + "政务服务网事项目录",
    })


def read_catalogue(path: Path) -> tuple[KbContent, CatalogueReport]:
    """Every importable record of the file, and a report of the lines skipped and why."""
    rules = _rules()
    content, report = KbContent(), CatalogueReport()
    seen: set[str] = set()
    origin = f"{rules.origin}:{path.name}"
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            report.read += 1
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("the line is not a JSON object")
                item = catalogue_row_to_item(row, rules)
            except json.JSONDecodeError as exc:
                report.skipped.append((number, f"not JSON ({exc.msg})"))
                continue
            except ValidationError as exc:
                field_name, problem = locate_error(exc)
                report.skipped.append((number, f"{field_name}: {problem}"))
                continue
            except ValueError as exc:
                report.skipped.append((number, str(exc)))
                continue
            if item.code in seen:
                report.skipped.append((number, f"TASK_CODE {item.code} repeats an earlier line"))
                continue
            seen.add(item.code)
            content.items.append(item)
            content.origins[f"item:{item.code}"] = origin
            report.imported += 1
    return content, report
