"""A complete, consistent set of KB records, and the checks that keep it consistent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput
from policy_kb.schema import Bundle, Policy, ServiceItem


class KbValidationError(InvalidInput):
    """A KB record is wrong. The message names the file, the row and the field."""

    code = "kb_invalid"

    def __init__(self, source: str, row: int | str, field_name: str, problem: str) -> None:
        super().__init__(f"{source} 第 {row} 条 {field_name}: {problem}")
        self.source, self.row, self.field_name, self.problem = source, row, field_name, problem


@dataclass
class KbContent:
    """Items, bundles, policies and the material alias groups, as loaded from one or more sources."""

    items: list[ServiceItem] = field(default_factory=list)
    bundles: list[Bundle] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    material_aliases: list[tuple[str, ...]] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)  # "item:CODE" → where the record came from

    def merge(self, other: KbContent) -> None:
        """Add another source's records (duplicates are found by `check`)."""
        self.items.extend(other.items)
        self.bundles.extend(other.bundles)
        self.policies.extend(other.policies)
        self.material_aliases.extend(other.material_aliases)
        self.origins.update(other.origins)

    def check(self, *, bundle_items: bool = True) -> None:
        """Unique codes and ids, and (unless told not to) bundles that name items of this content."""
        _unique((i.code for i in self.items), "item", self.origins)
        _unique((b.code for b in self.bundles), "bundle", self.origins)
        _unique((p.id for p in self.policies), "policy", self.origins)
        codes = {i.code for i in self.items}
        for bundle in self.bundles if bundle_items else ():
            missing = [c for c in bundle.items if c not in codes]
            if missing:
                raise KbValidationError(self.origins.get(f"bundle:{bundle.code}", "bundles"), bundle.code, "items",
                                        f"unknown item codes {', '.join(missing)}")


def _unique(keys: Iterable[str], kind: str, origins: dict[str, str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise KbValidationError(origins.get(f"{kind}:{key}", kind), key, "code" if kind != "policy" else "id",
                                    "appears more than once")
        seen.add(key)


def locate_error(exc: Exception) -> tuple[str, str]:
    """From a pydantic ValidationError: the dotted field path and the message of its first error."""
    errors: Sequence[dict[str, Any]] = getattr(exc, "errors", lambda: [])()
    if not errors:
        return "?", str(exc)
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "?"
    return loc, str(first.get("msg", ""))
