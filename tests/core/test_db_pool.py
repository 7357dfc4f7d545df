"""The PostgreSQL connection pool: connections left idle after a peak are closed by the server and replaced
without an error (issue 9's soak: the number of open connections must not grow over time).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

import core.db
from core.db import create_engine
from core.settings import Settings
from tests.backends import require_server_database


async def test_connections_idle_after_a_peak_are_closed_and_replaced_without_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = await require_server_database()
    # One second instead of five minutes (the setting's lower bound is for production; model_copy skips it).
    settings = Settings(database_url=url, data_dir=tmp_path).model_copy(update={"pool_idle_seconds": 1})
    monkeypatch.setattr(core.db, "IDLE_PING_SECONDS", 0.5)  # shorter than the idle time, as in production
    engine = create_engine(settings)
    closed: list[object] = []
    all_closed = asyncio.Event()

    def on_close(connection: object) -> None:
        closed.append(connection)
        if len(closed) == 3:
            all_closed.set()

    async def use_one(hold: asyncio.Barrier) -> str:
        async with engine.connect() as conn:
            timeout = (await conn.execute(text("SHOW idle_session_timeout"))).scalar_one()
            (await conn.get_raw_connection()).driver_connection.add_termination_listener(on_close)
            await hold.wait()  # three connections open at once: a peak
            return str(timeout)

    try:
        barrier = asyncio.Barrier(3)
        assert await asyncio.gather(*(use_one(barrier) for _ in range(3))) == ["1s"] * 3
        # A steady load of one query at a time for two seconds: the pool lends the connection used last
        # every time (were it to rotate through all three, none would ever sit idle for a second).
        async with asyncio.timeout(15):
            for _ in range(7):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT pg_sleep(0.3)"))
        assert len(closed) == 2
        await asyncio.wait_for(all_closed.wait(), 15)  # the load is over: the last one goes too
        async with engine.connect() as conn:  # the pool finds out before lending one, and connects anew
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
