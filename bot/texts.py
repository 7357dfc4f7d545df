"""Reply texts live in YAML (bot/data/replies.yml); flows ask for them by key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.yamlfile import load_yaml

DEFAULT_REPLIES_FILE = Path(__file__).parent / "data" / "replies.yml"


class Texts:
    """A read-only table of reply texts and menus, loaded once at start-up."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        # Word lists are looked up on every turn (a flow's `owns`): each set is built once.
        self._words = {key: frozenset(str(word) for word in words) for key, words in (data.get("words") or {}).items()}
        self._glossary = [(tuple(str(t) for t in entry["terms"]), str(entry["text"]))
                          for entry in data.get("glossary") or []]

    @classmethod
    def from_yaml(cls, path: Path = DEFAULT_REPLIES_FILE) -> Texts:
        """Load the table; a missing file fails start-up rather than producing empty replies."""
        return cls(load_yaml(path) or {})

    def get(self, key: str, /, **values: Any) -> str:
        """The text called `key`, with `{placeholders}` filled from `values`."""
        text = self._data["texts"][key]
        return str(text).format(**values) if values else str(text)

    def queue_place(self, ahead: int) -> str:
        """Where someone stands in a queue: "前面还有 2 位", or "下一位就是您" when nobody is ahead."""
        return self.get("queue_ahead", ahead=ahead) if ahead > 0 else self.get("queue_next")

    def words(self, key: str) -> frozenset[str]:
        """A word list of the `words` table (e.g. acknowledgements), as a set to look up."""
        return self._words[key]

    def glossary(self) -> list[tuple[tuple[str, ...], str]]:
        """The service's own words (容缺受理, 一件事…) and what each means, longest words first within an entry."""
        return self._glossary

    def menu(self, key: str) -> list[dict[str, str]]:
        """A list of `{title, payload}` entries (e.g. the help menu)."""
        return [dict(entry) for entry in self._data["menus"][key]]
