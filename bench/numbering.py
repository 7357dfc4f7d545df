"""Numbered records saved at once: the ORM path (`save_numbered`, as appointments are saved) against the Core
path of 预审, complaints and tickets (`insert_numbered`, one statement on PostgreSQL). Process CPU and wall time
per record (a report, never a timed test).

    .venv/bin/python bench/numbering.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_load]
                                        [--records 1000] [--rounds 3] [--kind precheck|case]

Each round saves `--records` pre-checks (or complaints with their first two events) concurrently under a fresh
prefix, first one way then the other. The database is migrated first; the rows are left behind (use a
database made for benchmarks).
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
from core.numbering import Dependents, insert_numbered, save_numbered
from core.settings import Settings
from handoff.case_models import Case, CaseEvent
from handoff.cases import CASE_EVENTS, CASES
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


def _case_values(n: int) -> dict[str, Any]:
    now = utcnow()
    return {"channel": "web", "user_id": f"web:u{n}", "phone": "13800001111", "name": None, "item_code": None,
            "item_name": "住房公积金提取", "where_when": "", "happened": "材料齐全，窗口说系统不支持，不给办理",
            "wants": "尽快办理", "category": "不给办", "complexity": "simple", "days": 3, "window": "公积金",
            "department": "县住房公积金管理中心", "status": "classified", "accepted_at": now, "fingerprint": f"f{n}",
            "request_key": None, "due_date": now.date(), "due_at": now, "warn_at": now, "provisional": False}


def _case_events(now: Any) -> list[dict[str, Any]]:
    return [{"kind": "accepted", "actor": "citizen", "created_at": now, "note": "经网页提交", "data": {}},
            {"kind": "classified", "actor": "system", "created_at": now, "note": "不给办，一般，3 个工作日",
             "data": {"category": "不给办", "complexity": "simple", "days": 3, "window": "公积金",
                      "department": "县住房公积金管理中心"}}]


def orm_case_saver(db: SessionFactory) -> Callable[[int, str], Awaitable[Any]]:
    """A complaint filed as `CaseService` did before session 15: the case and its events through the ORM."""
    async def save(n: int, prefix: str) -> Case:
        async def build(session: AsyncSession, number: str) -> Case:
            values = _case_values(n)
            case = Case(case_no=number, **values)
            session.add(case)
            await session.flush()
            assert case.id is not None
            for event in _case_events(values["accepted_at"]):
                session.add(CaseEvent(case_id=case.id, **event))
            return case

        return await save_numbered(db, Case.case_no, prefix, build)

    return save


def core_case_saver(db: SessionFactory) -> Callable[[int, str], Awaitable[Any]]:
    """A complaint filed as `CaseService` does now."""
    async def save(n: int, prefix: str) -> Case:
        values = _case_values(n)
        events = Dependents(CASE_EVENTS, "case_id", _case_events(values["accepted_at"]))
        return Case(**await insert_numbered(db, CASES, "case_no", prefix, values, [events]))

    return save


async def run(args: argparse.Namespace) -> None:
    """Migrate, then time both ways round by round."""
    with tempfile.TemporaryDirectory() as data_dir:
        engine = create_engine(Settings(database_url=args.database_url, data_dir=Path(data_dir)))
        try:
            await migrate(engine)
            db = session_factory(engine)
            print(f"{engine.dialect.name}, {args.records} {args.kind} records at once per round\n")
            print("| round | way | CPU ms/record | wall ms/record |\n|---|---|---|---|")
            ways = ((("ORM", orm_saver(db)), ("Core", core_saver(db))) if args.kind == "precheck" else
                    (("ORM", orm_case_saver(db)), ("Core", core_case_saver(db))))
            for round_no in range(1, args.rounds + 1):
                for way, saver in ways:
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
    parser.add_argument("--kind", choices=("precheck", "case"), default="precheck")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
