"""Daily record numbers when many turns number records at the same moment (found by bench/load.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import SessionFactory, create_engine, session_factory, utcnow
from core.numbering import COUNTERS, ONE_STATEMENT_ROWS, Dependents, insert_numbered, save_numbered
from core.settings import Settings
from handoff.cases import CASE_EVENTS, CASES
from policy_kb.prechecks import PRECHECKS, Precheck
from tests.backends import require_server_database
from tests.conftest import reset_database


async def migrated_engine(url: str, data_dir: Path) -> AsyncEngine:
    from bot.migrate import migrate

    await reset_database(url)
    engine = create_engine(Settings(database_url=url, data_dir=data_dir))
    await migrate(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'n.db'}" if request.param == "sqlite" else await require_server_database()
    engine = await migrated_engine(url, tmp_path)
    yield engine
    await engine.dispose()


@pytest.fixture
async def postgresql_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await migrated_engine(await require_server_database(), tmp_path)
    yield engine
    await engine.dispose()


# The two ways of numbering a record: the ORM one (cases, tickets) and the Core one of 预审 (one statement
# on PostgreSQL). Every test runs with both.
NUMBERING_PATHS = ("orm", "core")


@pytest.fixture(params=NUMBERING_PATHS)
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def numberer(db: SessionFactory, prefix: str = "YS20261122-", *, path: str = "orm",
             busy_seconds: float = 0.0) -> Callable[[int], Awaitable[str]]:
    async def core(n: int) -> str:
        values = {"user_id": f"web:u{n}", "item_code": "X", "item_name": "X", "have": [], "missing": [],
                  "decision": "complete", "supply_by": None, "created_at": utcnow(), "attachments": []}
        return str((await insert_numbered(db, PRECHECKS, "number", prefix, values))["number"])

    async def one(n: int) -> str:
        if path == "core":
            return await core(n)  # one statement: no transaction to keep open while busy

        async def build(session: AsyncSession, number: str) -> Precheck:
            record = Precheck(number=number, user_id=f"web:u{n}", item_code="X", item_name="X", have=[],
                              missing=[], decision="complete")
            session.add(record)
            await session.flush()  # like a ticket's build: a clash can show here, before the commit
            await asyncio.sleep(busy_seconds)  # a saturated server: the transaction stays open a while
            return record

        return (await save_numbered(db, Precheck.number, prefix, build)).number

    return one


async def test_concurrent_numbering_gives_every_record_its_own_number(engine: AsyncEngine, path: str) -> None:
    one = numberer(session_factory(engine), path=path)
    numbers = await asyncio.gather(*(one(n) for n in range(40)))
    assert sorted(numbers) == [f"YS20261122-{i:04d}" for i in range(1, 41)]


async def test_two_workers_numbering_at_once_settle_on_distinct_numbers(engine: AsyncEngine, path: str) -> None:
    # Two session factories stand for two worker processes: each carries its own count on, and clashes.
    first, second = numberer(session_factory(engine), path=path), numberer(session_factory(engine), path="orm")
    await first(0)
    numbers = await asyncio.gather(*(worker(n) for n in range(1, 13) for worker in (first, second)))
    assert sorted(numbers) == [f"YS20261122-{i:04d}" for i in range(2, 26)]


async def test_a_restarted_worker_carries_on_from_the_last_number_of_its_prefix(engine: AsyncEngine, path: str) -> None:
    yesterday = numberer(session_factory(engine), "YS20261121-", path=path)
    today = numberer(session_factory(engine), path=path)
    for n in range(30):
        await today(n)
    await yesterday(99)  # newer by id, another prefix: not counted
    restarted = numberer(session_factory(engine), path=path)  # a new process: nothing carried on in memory
    assert await restarted(100) == "YS20261122-0031"
    assert await numberer(session_factory(engine), "YS20261123-", path=path)(101) == "YS20261123-0001"  # a new day


async def test_two_saturated_workers_both_keep_numbering(engine: AsyncEngine, path: str) -> None:
    """Issue 9's soak: two busy workers each carried their own count on and clashed; one lost every retry and
    the citizen got HTTP 500. With the counter row they queue instead, and no number is skipped.
    """
    first = numberer(session_factory(engine), path=path, busy_seconds=0.02)
    second = numberer(session_factory(engine), busy_seconds=0.02)
    numbers = await asyncio.gather(*(worker(n) for n in range(30) for worker in (first, second)))
    assert sorted(numbers) == [f"YS20261122-{i:04d}" for i in range(1, 61)]


async def test_a_record_numbered_outside_the_counter_is_stepped_over(engine: AsyncEngine, path: str) -> None:
    db = session_factory(engine)
    one = numberer(db, path=path)
    assert await one(0) == "YS20261122-0001"
    async with db() as session:  # by an older version during a rolling upgrade, or by hand
        session.add(Precheck(number="YS20261122-0002", user_id="web:x", item_code="X", item_name="X", have=[],
                             missing=[], decision="complete"))
        await session.commit()
    assert await one(1) == "YS20261122-0003"
    assert await one(2) == "YS20261122-0004"


async def test_numbers_past_9999_keep_every_digit(engine: AsyncEngine, path: str) -> None:
    db = session_factory(engine)
    one = numberer(db, path=path)
    assert await one(0) == "YS20261122-0001"
    async with db() as session:  # a very busy day
        await session.exec(update(COUNTERS).where(COUNTERS.c.prefix == "YS20261122-").values(last=9998))  # type: ignore[call-overload]
        await session.commit()
    assert [await one(n) for n in (1, 2)] == ["YS20261122-9999", "YS20261122-10000"]


async def test_a_precheck_on_postgresql_is_numbered_and_stored_by_one_statement(postgresql_engine: AsyncEngine) -> None:
    """The 预审 of a conversation's turn: one round trip, not BEGIN, UPDATE, INSERT and COMMIT (issue 9). (SQLite
    cannot update in a WITH clause: there it takes the transaction path.)
    """
    engine = postgresql_engine
    one = numberer(session_factory(engine), path="core")
    await one(0)  # the day's first record makes the counter row
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_args: statements.append(statement))
    assert await one(1) == "YS20261122-0002"
    assert len(statements) == 1 and statements[0].startswith("WITH taken AS")


def complaint(n: int) -> tuple[dict[str, Any], list[Dependents]]:
    """A case's values and its first two events, as the complaint flow files them."""
    now = utcnow()
    values = {"channel": "web", "user_id": f"web:u{n}", "phone": "13800001111", "item_name": "不动产登记",
              "where_when": "", "happened": "材料齐全但不受理", "wants": "", "category": "不给办",
              "complexity": "simple", "days": 3, "window": "综合", "department": "县政务服务中心",
              "status": "classified", "accepted_at": now,
              "due_date": now.date(), "due_at": now, "warn_at": now, "fingerprint": f"f{n}"}
    events = Dependents(CASE_EVENTS, "case_id", [
        {"kind": "accepted", "actor": "citizen", "note": "经网页提交", "data": {}, "created_at": now},
        {"kind": "classified", "actor": "system", "note": "不给办", "data": {"days": 3, "window": "综合"},
         "created_at": now},
    ])
    return values, [events]


async def events_of(engine: AsyncEngine, case_id: int) -> list[tuple[str, dict[str, Any], bool]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(CASE_EVENTS.c.kind, CASE_EVENTS.c.data, CASE_EVENTS.c.public)
                                  .where(CASE_EVENTS.c.case_id == case_id).order_by(CASE_EVENTS.c.id))
        return [(row.kind, row.data, row.public) for row in rows]


async def test_a_record_is_stored_with_its_dependent_rows(engine: AsyncEngine) -> None:
    """A complaint and its first events: the day's first one (which makes the counter row) and the next (on
    PostgreSQL, one statement) both come back with their number, and their events point at them.
    """
    db = session_factory(engine)
    for n in (1, 2):
        row = await insert_numbered(db, CASES, "case_no", "BBC20261122-", *complaint(n))
        assert row["case_no"] == f"BBC20261122-{n:04d}"
        assert row["light"] == "green" and row["escalated"] is False and row["rating"] is None  # the defaults
        assert await events_of(engine, row["id"]) == [("accepted", {}, True),
                                                      ("classified", {"days": 3, "window": "综合"}, True)]


async def test_a_complaint_on_postgresql_is_filed_with_its_events_by_one_statement(
    postgresql_engine: AsyncEngine,
) -> None:
    """The 确认 of a complaint: one round trip, not BEGIN, UPDATE, INSERT, INSERT and COMMIT (issue 9)."""
    engine = postgresql_engine
    db = session_factory(engine)
    await insert_numbered(db, CASES, "case_no", "BBC20261122-", *complaint(1))
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_args: statements.append(statement))
    row = await insert_numbered(db, CASES, "case_no", "BBC20261122-", *complaint(2))
    assert len(statements) == 1 and statements[0].startswith("WITH taken AS")
    assert row["case_no"] == "BBC20261122-0002"
    assert [kind for kind, _data, _public in await events_of(engine, row["id"])] == ["accepted", "classified"]


async def test_a_clash_leaves_no_dependent_rows_behind(engine: AsyncEngine) -> None:
    """A number already taken outside the counter: the record is numbered past it, and its events are stored
    once, with the record that was kept.
    """
    db = session_factory(engine)
    first = await insert_numbered(db, CASES, "case_no", "BBC20261122-", *complaint(1))
    values, _events = complaint(2)
    async with engine.connect() as conn:  # by hand, without the counter
        await conn.execute(insert(CASES).values({**values, "case_no": "BBC20261122-0002", "fingerprint": "hand"}))
        await conn.commit()
    row = await insert_numbered(db, CASES, "case_no", "BBC20261122-", *complaint(3))
    assert row["case_no"] == "BBC20261122-0003"
    async with engine.connect() as conn:
        per_case = dict((await conn.execute(select(CASE_EVENTS.c.case_id, func.count())
                                            .group_by(CASE_EVENTS.c.case_id))).all())
    assert per_case == {first["id"]: 2, row["id"]: 2}


async def test_a_record_with_many_dependent_rows_keeps_their_order(engine: AsyncEngine) -> None:
    """A long conversation handed to staff: more rows than one statement carries take the transaction path,
    and the lines are stored in the order they were said.
    """
    db = session_factory(engine)
    values, _events = complaint(1)
    now = values["accepted_at"]
    notes = [{"kind": "note", "actor": "system", "note": f"第{i}条", "data": {}, "created_at": now}
             for i in range(ONE_STATEMENT_ROWS + 3)]
    for n in (1, 2):  # the day's first record, then one that could have been a single statement
        row = await insert_numbered(db, CASES, "case_no", "BBC20261122-", {**values, "fingerprint": f"f{n}"},
                                    [Dependents(CASE_EVENTS, "case_id", notes)])
        async with engine.connect() as conn:
            said = (await conn.execute(select(CASE_EVENTS.c.note).where(CASE_EVENTS.c.case_id == row["id"])
                                       .order_by(CASE_EVENTS.c.id))).scalars().all()
        assert said == [f"第{i}条" for i in range(ONE_STATEMENT_ROWS + 3)]
