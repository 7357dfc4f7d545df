"""How a 办不成事 case is classified, timed and routed, read from `handoff/data/cases.yml`.

Classification is a rule over the citizen's own words (the category with most signal words wins; ties go
to the category listed first) plus what the NLU found (the KB item, which decides the department).
Staff can always correct it; the rules only make the first guess.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from core.text import normalise
from core.yamlfile import YamlRules
from handoff.case_models import CATEGORIES, Category, Complexity
from policy_kb.schema import ServiceItem

RULES_FILE = Path(__file__).parent / "data" / "cases.yml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryRule(_Strict):
    """Signal words of one category."""

    meaning: str
    signals: tuple[str, ...]


class ComplexityRule(_Strict):
    """Signal words that make a case complex, or impossible (only within one category)."""

    complex_signals: tuple[str, ...]
    impossible_signals: tuple[str, ...]
    impossible_only_for: Category


class RoutingRule(_Strict):
    """Words that send a case without a known item to a window and department."""

    words: tuple[str, ...]
    window: str
    department: str


class Routing(_Strict):
    """Where cases go."""

    complaint_window: str
    default_window: str
    default_department: str
    rules: tuple[RoutingRule, ...]


class CaseRules(YamlRules):
    """The whole rule file."""

    source: ClassVar[Path] = RULES_FILE

    categories: dict[Category, CategoryRule]
    default_category: Category
    complexity: ComplexityRule
    deadline_days: dict[Complexity, int] = Field(min_length=3)
    routing: Routing
    close_after_working_days: int = Field(ge=1, le=30)
    status_names: dict[str, str]
    complexity_names: dict[Complexity, str]
    light_names: dict[str, str]
    channel_names: dict[str, str]

    def classify(self, text: str) -> tuple[Category, Complexity]:
        """The first guess at category and complexity from the citizen's account."""
        words = normalise(text)
        scores = {name: sum(signal in words for signal in rule.signals) for name, rule in self.categories.items()}
        best = max(scores.values(), default=0)
        category = next((c for c in self.categories if scores[c] == best), self.default_category) if best else \
            self.default_category
        rule = self.complexity
        if category == rule.impossible_only_for and any(s in words for s in rule.impossible_signals):
            return category, "impossible"
        if any(s in words for s in rule.complex_signals):
            return category, "complex"
        return category, "simple"

    def route(self, text: str, item: ServiceItem | None) -> tuple[str, str]:
        """(window, department) responsible: the KB item's when known, else the first matching rule."""
        if item is not None:
            return item.window, item.department
        words = normalise(text)
        for rule in self.routing.rules:
            if any(w in words for w in rule.words):
                return rule.window, rule.department
        return self.routing.default_window, self.routing.default_department

    def days_for(self, complexity: Complexity) -> int:
        """Working days allowed: 3, 7 when complex, 3 for a reasoned reply when it cannot be done."""
        return self.deadline_days[complexity]


def check_category(value: str) -> Category:
    """`value` as a Category, or ValueError naming the allowed ones."""
    if value not in CATEGORIES:
        raise ValueError(f"category must be one of {'、'.join(CATEGORIES)}")
    return value  # type: ignore[return-value]
