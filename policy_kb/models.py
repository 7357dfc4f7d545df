"""KB tables. Each record's full content is a validated JSON document; the columns beside it are what
lists and filters need. SQL is the system of record; the in-memory index is rebuilt from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow


class KbItem(SQLModel, table=True):
    """A service item (事项)."""

    __tablename__ = "kb_item"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200, index=True)
    window: str = Field(max_length=16, index=True)
    origin: str = Field(max_length=64, description="yaml file, import file or catalogue it came from")
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class KbBundle(SQLModel, table=True):
    """A bundle (一件事) of items."""

    __tablename__ = "kb_bundle"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    origin: str = Field(max_length=64)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class KbPolicy(SQLModel, table=True):
    """An enterprise policy (惠企政策)."""

    __tablename__ = "kb_policy"

    id: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=200)
    domain: str = Field(max_length=16, index=True)
    origin: str = Field(max_length=64)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class KbMaterialAlias(SQLModel, table=True):
    """One group of names for the same material; the first is the standard name."""

    __tablename__ = "kb_material_alias"

    id: int | None = Field(default=None, primary_key=True)
    names: list[str] = Field(sa_column=Column(JSON, nullable=False))


class KbGap(SQLModel, table=True):
    """A question the KB could not answer (否定备案 / KB gap), counted, for the KB editors."""

    __tablename__ = "kb_gap"

    id: int | None = Field(default=None, primary_key=True)
    query: str = Field(max_length=200, unique=True, description="normalised question")
    example: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(max_length=16, description="item, policy or chat")
    count: int = 1
    first_seen: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    last_seen: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
