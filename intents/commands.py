"""Exact-command matching: the global commands of DESIGN §1 must never depend on a classifier's mood."""

from __future__ import annotations

import re
from pathlib import Path

from core.yamlfile import load_yaml
from intents.base import FALLBACK_INTENT, Parse, normalise

DEFAULT_COMMANDS_FILE = Path(__file__).parent / "data" / "commands.yml"
_TRIM = re.compile(r"[\s,.!?;:'\"，。！？；：、“”‘’~～…]+")


def _key(text: str) -> str:
    return _TRIM.sub("", normalise(text).lower()) or normalise(text)


class CommandMatcher:
    """Maps exact phrases (after normalisation) to intents with confidence 1.0."""

    def __init__(self, phrases: dict[str, list[str]]) -> None:
        self._index: dict[str, str] = {}
        for intent, words in phrases.items():
            for word in words:
                self._index[_key(str(word))] = intent

    @classmethod
    def from_yaml(cls, path: Path = DEFAULT_COMMANDS_FILE) -> CommandMatcher:
        """Load the phrase table from a YAML file with a top-level `commands` mapping."""
        data = load_yaml(path) or {}
        return cls(data.get("commands", {}))

    @property
    def intents(self) -> frozenset[str]:
        """Every intent this matcher can return."""
        return frozenset(self._index.values())

    def match(self, text: str) -> str | None:
        """The command intent for this text, or None."""
        return self._index.get(_key(text))

    async def parse(self, text: str) -> Parse:
        """Parse as an NLU backend: a command with confidence 1, else the fallback intent."""
        intent = self.match(text)
        if intent is None:
            return Parse(text=text, intent=FALLBACK_INTENT, confidence=0.0)
        return Parse(text=text, intent=intent, confidence=1.0, ranking=((intent, 1.0),))
