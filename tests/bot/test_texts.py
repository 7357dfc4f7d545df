"""Every reply text a flow builds from a key pattern exists, so no path ends in a KeyError."""

from __future__ import annotations

import re
from pathlib import Path

from bot.case_notices import CITIZEN_TEXTS
from bot.flows.complaint import FIELDS
from bot.texts import Texts
from policy_kb.prechecks import Decision

ROOT = Path(__file__).parents[2]


def test_every_literal_key_in_the_code_exists() -> None:
    texts = Texts.from_yaml()
    used = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py")]:
        used.update(re.findall(r"texts\.get\(\s*\"([a-z_]+)\"", path.read_text(encoding="utf-8")))
    missing = [k for k in sorted(used) if not _has(texts, k)]
    assert not missing, missing


def test_every_patterned_key_exists() -> None:
    texts = Texts.from_yaml()
    keys = [f"complaint_ask_{f}" for f in FIELDS]
    keys += [f"progress_decision_{d}" for d in Decision.__args__]  # type: ignore[attr-defined]
    keys += list(CITIZEN_TEXTS.values())
    keys += [f"progress_event_{k}" for k in ("accepted", "classified", "reclassified", "transferred", "paused",
                                             "resumed", "resolved", "feedback", "closed")]
    keys += [f"complaint_due_{c}" for c in ("simple", "complex", "impossible")]
    keys += [f"{k}_{step}" for k in ("appointment", "assisted") for step in ("pick_day", "booked")]
    missing = [k for k in keys if not _has(texts, k)]
    assert not missing, missing


def _has(texts: Texts, name: str) -> bool:
    try:
        texts.get(name)
    except KeyError:
        return False
    return True
