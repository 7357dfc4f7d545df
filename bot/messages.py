"""What flows between channels and the engine: one frozen Inbound in, a list of Reply out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Inbound:
    """One message from a citizen, already parsed out of its channel's wire format.

    `user_id` is unique across channels (it starts with the channel, e.g. `web:…`, `wechat:…`).
    `msg_id` identifies the message for de-duplication: a retry carries the same id.
    """

    channel: str
    user_id: str
    text: str
    msg_id: str
    kind: str = "text"
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Button:
    """A choice offered to the user; sending `payload` back as text selects it, and so does its number: its place
    among the reply's buttons, or `number` when the reply's text numbers it otherwise (a list numbered on from an
    earlier page: "6." is the first button of the second page).
    """

    title: str
    payload: str
    number: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's button JSON."""
        if self.number is None:
            return {"title": self.title, "payload": self.payload}
        return {"title": self.title, "payload": self.payload, "number": self.number}


@dataclass(frozen=True)
class Reply:
    """One reply bubble: text, optional buttons and an optional structured card."""

    text: str
    buttons: tuple[Button, ...] = ()
    card: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's reply JSON."""
        return {"text": self.text, "buttons": [b.to_json() for b in self.buttons],
                "card": dict(self.card) if self.card is not None else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reply:
        """Rebuild a Reply from its JSON form (used for cached results and stored messages)."""
        return cls(
            text=str(data["text"]),
            buttons=tuple(Button(str(b["title"]), str(b["payload"]), b.get("number"))
                          for b in data.get("buttons") or ()),
            card=data.get("card"),
        )

    def as_plain_text(self) -> str:
        """Text with buttons rendered as numbered lines, for channels that cannot show buttons. A button the text
        numbers already ("1. 小型微利企业所得税优惠：…" in a policy list) is not listed again.
        """
        numbered = ((b.number or place, b.title) for place, b in enumerate(self.buttons, 1))
        lines = [self.text, *(f"回复 {n} {title}" for n, title in numbered if f"{n}. {title}" not in self.text)]
        return "\n".join(lines)
