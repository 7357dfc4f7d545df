"""SQL tables owned by the bot: the turn log and messages pushed to users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow


class Turn(SQLModel, table=True):
    """One processed message and what the bot answered. (channel, user_id, msg_id) is unique: the
    last line of defence against processing a retried message twice.
    """

    __tablename__ = "turn"
    # (user_id, id), not user_id alone: "a user's latest …" (ORDER BY id DESC LIMIT) must not walk the whole
    # table backwards by primary key, which PostgreSQL chose for users with no rows at all (issue 9's soak).
    __table_args__ = (UniqueConstraint("user_id", "msg_id", name="uq_turn_user_msg"),
                      Index("ix_turn_user_latest", "user_id", "id"))

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    user_id: str = Field(max_length=128)
    msg_id: str = Field(max_length=128)
    text: str = Field(sa_column=Column(Text, nullable=False))
    intent: str | None = Field(default=None, max_length=64)
    confidence: float | None = None
    flow: str | None = Field(default=None, max_length=32)
    replies: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class OutboundMessage(SQLModel, table=True):
    """A message pushed to a user outside a turn (staff reply, case update). Its id is the cursor of
    `GET /api/v1/messages?after=`. `delivered_at` is set once a channel that sends pushed messages itself
    (WeChat, mini-program) is done with the row: sent, nothing to send for it, or refused by WeChat for a reason a
    resend cannot fix. Rows of web users (read by cursor) keep it empty.
    """

    __tablename__ = "outbound_message"
    __table_args__ = (Index("ix_outbound_message_undelivered", "delivered_at", "created_at"),
                      Index("ix_outbound_message_user_latest", "user_id", "id"))

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=128)
    source: str = Field(max_length=32, description="who sent it: staff, case, system")
    reply: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
