"""Fixtures for KB tests: a store on the run's database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.db import create_engine, session_factory
from core.settings import Settings
from policy_kb.store import KbStore


@pytest.fixture
async def kb_store(settings: Settings) -> AsyncIterator[KbStore]:
    engine = create_engine(settings)
    yield KbStore(session_factory(engine))
    await engine.dispose()
