"""Numbered records saved at once: the ORM path (`save_numbered`, cases and tickets) against the Core path of
预审 (`insert_numbered`, one statement on PostgreSQL). Process CPU and wall time per record (a report, never a
timed test).

    .venv/bin/python bench/numbering.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_load]
                                        [--records 1000] [--rounds 3]

Each round saves `--records` pre-checks concurrently under a fresh prefix, first one way then the other. The
database is migrated first; the rows are left behind (use a database made for benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.migrate import migrate
from core.db import SessionFactory, create_engine, session_factory, utcnow
from core.numbering import insert_numbered, save_numbered
from core.settings import Settings
from policy_kb.prechecks import PRECHECKS, Precheck

MISSING = [{"name": "身份证明", "notes": "", "deferrable": False, "required": True}]


def orm_saver(db: SessionFactory) -> Callable[[int, str], Awaitable[Any]]:
    """A pre-check saved as before this path existed: a SQLModel added to an ORM session."""
    async def save(n: int, prefix: str) -> Precheck:
        async def build(session: AsyncSession, number: str) -> Precheck:
            record = Precheck(number=number, user_id=f"web:u{n}", item_code="X", item_name="X", have=[1, 2],
                              missing=MISSING, decision="incomplete")
            session.add(record)
            return record

        return await save_numbered(db, Precheck.number, prefix, build)

    return save


def core_saver(db: SessionFactory) -> Callable[[int, str], Awaitable[Any]]:
    """A pre-check saved as `PrecheckStore.save` does now."""
    async def save(n: int, prefix: str) -> Precheck:
        values = {"user_id": f"web:u{n}", "item_code": "X", "item_name": "X", "have": [1, 2], "missing": MISSING,
                  "decision": "incomplete", "supply_by": None, "created_at": utcnow(), "attachments": []}
        return Precheck(**await insert_numbered(db, PRECHECKS, "number", prefix, values))

    return save


async def run(args: argparse.Namespace) -> None:
    """Migrate, then time both ways round by round."""
    with tempfile.TemporaryDirectory() as data_dir:
        engine = create_engine(Settings(database_url=args.database_url, data_dir=Path(data_dir)))
        try:
            await migrate(engine)
            db = session_factory(engine)
            print(f"{engine.dialect.name}, {args.records} records at once per round\n")
            print("| round | way | CPU ms/record | wall ms/record |\n|---|---|---|---|")
            for round_no in range(1, args.rounds + 1):
                for way, saver in (("ORM", orm_saver(db)), ("Core", core_saver(db))):
                    prefix = f"B{way[0]}{time.time_ns() % 10**9}-"
                    await saver(0, prefix)  # the day's first record makes the counter row
                    cpu, wall = time.process_time(), time.perf_counter()
                    await asyncio.gather(*(saver(n, prefix) for n in range(1, args.records + 1)))
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    print(f"| {round_no} | {way} | {1e3 * cpu / args.records:.3f} | "
                          f"{1e3 * wall / args.records:.3f} |")
        finally:
            await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench_load")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
