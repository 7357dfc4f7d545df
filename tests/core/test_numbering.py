"""Daily record numbers when many turns number records at the same moment (found by bench/load.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import SessionFactory, create_engine, session_factory
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


def numberer(db: SessionFactory, prefix: str = "YS20261122-", *,
             busy_seconds: float = 0.0) -> Callable[[int], Awaitable[str]]:
    async def one(n: int) -> str:
        async def build(session: AsyncSession, number: str) -> Precheck:
            record = Precheck(number=number, user_id=f"web:u{n}", item_code="X", item_name="X", have=[],
                              missing=[], decision="complete")
            session.add(record)
            await session.flush()  # like a ticket's build: a clash can show here, before the commit
            await asyncio.sleep(busy_seconds)  # a saturated server: the transaction stays open a while
            return record

        return (await save_numbered(db, Precheck.number, prefix, build)).number

    return one


async def test_concurrent_numbering_gives_every_record_its_own_number(engine: AsyncEngine) -> None:
    one = numberer(session_factory(engine))
    numbers = await asyncio.gather(*(one(n) for n in range(40)))
    assert sorted(numbers) == [f"YS20261122-{i:04d}" for i in range(1, 41)]


async def test_two_workers_numbering_at_once_settle_on_distinct_numbers(engine: AsyncEngine) -> None:
    # Two session factories stand for two worker processes: each carries its own count on, and clashes.
    first, second = numberer(session_factory(engine)), numberer(session_factory(engine))
    await first(0)
    numbers = await asyncio.gather(*(worker(n) for n in range(1, 13) for worker in (first, second)))
    assert sorted(numbers) == [f"YS20261122-{i:04d}" for i in range(2, 26)]


async def test_a_restarted_worker_carries_on_from_the_last_number_of_its_prefix(engine: AsyncEngine) -> None:
    yesterday, today = numberer(session_factory(engine), "YS20261121-"), numberer(session_factory(engine))
    for n in range(30):
        await today(n)
    await yesterday(99)  # newer by id, another prefix: not counted
    restarted = numberer(session_factory(engine))  # a new process: nothing carried on in memory
    assert await restarted(100) == "YS20261122-0031"
    assert await numberer(session_factory(engine), "YS20261123-")(101) == "YS20261123-0001"  # a new day


async def test_two_saturated_workers_both_keep_numbering(engine: AsyncEngine) -> None:
    """Issue 9's soak: two busy workers each carried their own count on and clashed; one lost every retry and
    the citizen got HTTP 500. With the counter row they queue instead, and no number is skipped.
    """
    first = numberer(session_factory(engine), busy_seconds=0.02)
    second = numberer(session_factory(engine), busy_seconds=0.02)
    numbers = await asyncio.gather(*(worker(n) for n in range(30) for worker in (first, second)))
    assert sorted(numbers) == [f"YS20261122-{i:04d}" for i in range(1, 61)]


async def test_a_record_numbered_outside_the_counter_is_stepped_over(engine: AsyncEngine) -> None:
    db = session_factory(engine)
    one = numberer(db)
    assert await one(0) == "YS20261122-0001"
    async with db() as session:  # by an older version during a rolling upgrade, or by hand
        session.add(Precheck(number="YS20261122-0002", user_id="web:x", item_code="X", item_name="X", have=[],
                             missing=[], decision="complete"))
        await session.commit()
    assert await one(1) == "YS20261122-0003"
    assert await one(2) == "YS20261122-0004"
