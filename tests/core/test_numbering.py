"""Daily record numbers when many turns number records at the same moment (found by bench/load.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import create_engine, session_factory
from core.numbering import save_numbered
from core.settings import Settings
from policy_kb.prechecks import Precheck
from tests.backends import require_server_database
from tests.conftest import reset_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'n.db'}" if request.param == "sqlite" else await require_server_database()
    await reset_database(url)
    engine = create_engine(Settings(database_url=url, data_dir=tmp_path))
    from bot.migrate import migrate

    await migrate(engine)
    yield engine
    await engine.dispose()


async def test_concurrent_numbering_gives_every_record_its_own_number(engine: AsyncEngine) -> None:
    db = session_factory(engine)

    async def one(n: int) -> str:
        async def build(session: AsyncSession, number: str) -> Precheck:
            record = Precheck(number=number, user_id=f"web:u{n}", item_code="X", item_name="X", have=[],
                              missing=[], decision="complete")
            session.add(record)
            return record

        return (await save_numbered(db, Precheck.number, "YS20261122-", build)).number

    numbers = await asyncio.gather(*(one(n) for n in range(40)))
    assert sorted(numbers) == [f"YS20261122-{i:04d}" for i in range(1, 41)]
