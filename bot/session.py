"""Chat sessions: short-lived conversation state, kept in Redis with an idle TTL (bot/turn_state.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from core import jsoncodec


@dataclass
class Session:
    """Where one user's conversation stands.

    `flow` is the active flow's name; each flow keeps its own slots under `slots[flow]` and never
    touches another's. `buttons` remembers the last offered choices so "1" or "第二个" can select one.
    """

    user_id: str
    channel: str
    flow: str | None = None
    slots: dict[str, dict[str, Any]] = field(default_factory=dict)
    buttons: list[dict[str, str]] = field(default_factory=list)
    misses: int = 0
    turns: int = 0
    started_at: float = field(default_factory=time.time)

    def slots_of(self, flow: str) -> dict[str, Any]:
        """The mutable slot dict of one flow."""
        return self.slots.setdefault(flow, {})

    def end_flow(self) -> None:
        """Leave the active flow and forget its slots."""
        if self.flow is not None:
            self.slots.pop(self.flow, None)
        self.flow = None

    def to_json(self) -> str:
        """Serialise for storage."""
        # Not dataclasses.asdict: it deep-copies the slots first, for nothing (the encoder only reads them).
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return jsoncodec.dumps(fields)

    @classmethod
    def from_json(cls, raw: str) -> Session:
        """Deserialise; unknown keys from an older version are ignored."""
        data = jsoncodec.loads(raw)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
