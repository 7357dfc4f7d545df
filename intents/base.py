"""The NLU contract shared by every backend (built-in, Rasa)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any, Protocol

FALLBACK_INTENT = "nlu_fallback"


@dataclass(frozen=True)
class Entity:
    """One entity found in the text, with character offsets as Rasa gives them."""

    entity: str
    value: str
    start: int
    end: int
    extractor: str = "builtin"

    def to_json(self) -> dict[str, Any]:
        """Rasa's entity JSON."""
        return {"entity": self.entity, "value": self.value, "start": self.start, "end": self.end,
                "extractor": self.extractor}


@dataclass(frozen=True)
class Parse:
    """What the NLU understood of one message."""

    text: str
    intent: str
    confidence: float
    entities: tuple[Entity, ...] = ()
    ranking: tuple[tuple[str, float], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The same JSON shape as Rasa's `/model/parse`."""
        return {
            "text": self.text,
            "intent": {"name": self.intent, "confidence": round(self.confidence, 4)},
            "entities": [e.to_json() for e in self.entities],
            "intent_ranking": [{"name": n, "confidence": round(c, 4)} for n, c in self.ranking],
        }


class NLU(Protocol):
    """Anything that can parse a message."""

    async def parse(self, text: str) -> Parse:
        """Understand one message."""
        ...


def normalise(text: str) -> str:
    """Fold full-width characters (１２３, ＡＢＣ, full-width space) to their plain forms and trim."""
    return unicodedata.normalize("NFKC", text).strip()
