"""Daily record numbers (YS20261122-0007, BBC20261122-0003): the prefix names the kind and the day, the
sequence counts that day's records.

The last number given under each prefix is a row of `record_counter`. Taking a number updates that row in the
transaction that saves the record, so the row stays locked until the record is committed: workers numbering
at once queue on it and each gets the next number. Numbers are not carried in memory and guessed: in issue
9's soak, two saturated workers doing that clashed on the same number until one gave up (HTTP 500). The first
number of a day starts after the newest records of the table, so records numbered before the counter existed
(or by hand) are not numbered again; a clash with such a record moves the counter past it.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Insert, String, Table, bindparam, cast, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import SessionFactory, single_statement_engine, upsert_insert

T = TypeVar("T")
ATTEMPTS = 5  # a clash needs a record numbered outside the counter; each one moves the counter past it
NEWEST = 20  # records read to find the last number of a day: more than workers can number at once


class RecordCounter(SQLModel, table=True):
    """The last number given under one prefix (one row per kind of record and day)."""

    __tablename__ = "record_counter"

    prefix: str = Field(primary_key=True, max_length=32)
    last: int


COUNTERS: Table = RecordCounter.__table__  # type: ignore[attr-defined]

# One waiter per prefix and process on the counter row, instead of one pooled connection per waiting turn.
_locks: weakref.WeakKeyDictionary[SessionFactory, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _lock(db_factory: SessionFactory, prefix: str) -> asyncio.Lock:
    return _locks.setdefault(db_factory, {}).setdefault(prefix, asyncio.Lock())


async def _run(db: AsyncSession, statement: Any) -> Any:
    """A Core statement in the session's transaction, its result as SQLAlchemy returns it."""
    return await db.exec(statement)


async def _last_number(db: AsyncSession, column: Any, prefix: str) -> int:
    """The highest number under `prefix` among the newest records of the table (by primary key).

    Not a count of the prefix, nor a LIKE: PostgreSQL cannot use the column's index for LIKE 'prefix%' under a
    non-C collation and reads the whole table. Each table numbers under one prefix a day, so today's records
    are the newest ones (none among them: today has none yet).
    """
    primary_key = next(iter(column.table.primary_key.columns))
    numbers = (await _run(db, select(column).order_by(primary_key.desc()).limit(NEWEST))).scalars().all()
    return max((int(number[len(prefix):]) for number in numbers
                if number.startswith(prefix) and number[len(prefix):].isdigit()), default=0)


async def _take(db: AsyncSession, column: Any, prefix: str, at_least: int) -> int:
    """The next number under `prefix` (at least `at_least`), counted in `db`'s transaction."""
    row = COUNTERS.c.prefix == prefix
    if at_least > 1:  # after a clash
        await _run(db, update(COUNTERS).where(row, COUNTERS.c.last < at_least - 1).values(last=at_least - 1))
    taken = (await _run(db, update(COUNTERS).where(row)
                        .values(last=COUNTERS.c.last + 1).returning(COUNTERS.c.last))).scalar()
    if taken is not None:
        return int(taken)
    # The day's first record: two workers may get here at once, and the second one's insert counts on.
    start = max(await _last_number(db, column, prefix) + 1, at_least)
    first = (upsert_insert(db.get_bind().dialect, COUNTERS).values(prefix=prefix, last=start)
             .on_conflict_do_update(index_elements=["prefix"], set_={"last": COUNTERS.c.last + 1})
             .returning(COUNTERS.c.last))
    return int((await _run(db, first)).scalar_one())


async def save_numbered(db_factory: SessionFactory, column: Any, prefix: str,
                        build: Callable[[AsyncSession, str], Awaitable[T]]) -> T:
    """Run `build(db, number)` with the next number under `prefix` and commit both together."""
    at_least = 1
    async with _lock(db_factory, prefix):
        for _attempt in range(ATTEMPTS):
            async with db_factory() as db:
                number = await _take(db, column, prefix, at_least)
                try:  # build() may flush: a clash can show there as well as at the commit
                    result = await build(db, f"{prefix}{number:04d}")
                    await db.commit()
                except IntegrityError:
                    await db.rollback()
                    # A record numbered outside the counter holds this number: go past the newest ones.
                    at_least = max(await _last_number(db, column, prefix), number) + 1
                else:
                    return result
    raise RuntimeError(f"could not number a record under {prefix}")


async def insert_numbered(db_factory: SessionFactory, table: Table, column: str, prefix: str,
                          values: dict[str, Any]) -> RowMapping:
    """Insert one row of `table` with the next number under `prefix` in `column`; the row as stored.

    For records made in a conversation's turn (预审): a Core INSERT, no model to build, validate and flush,
    which cost more than the statements themselves (issue 9). On PostgreSQL the number is taken and the row
    inserted by one statement in autocommit, one round trip instead of four (BEGIN, UPDATE, INSERT, COMMIT);
    elsewhere, and for the day's first record and a clash, `save_numbered` runs the INSERT in its transaction.
    """
    engine = single_statement_engine(db_factory)
    if engine.dialect.name == "postgresql":
        statement = _one_statement_insert(table, column)
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(statement, {**values, "counter_prefix": prefix})).mappings().first()
        except IntegrityError:  # a record numbered outside the counter holds the number
            row = None
        if row is not None:
            return row

    async def build(db: AsyncSession, number: str) -> RowMapping:
        statement = insert(table).values({**values, column: number}).returning(*table.c)
        return (await _run(db, statement)).mappings().one()  # type: ignore[no-any-return]

    return await save_numbered(db_factory, table.c[column], prefix, build)


@functools.cache
def _one_statement_insert(table: Table, column: str) -> Insert:
    """PostgreSQL: `WITH taken AS (UPDATE record_counter … RETURNING last) INSERT INTO table SELECT prefix ||
    the number padded to 4 digits, the values… FROM taken RETURNING *`. No row when the prefix has no counter yet.
    Built once per table: building a statement costs more than running it.
    """
    taken = (update(COUNTERS).where(COUNTERS.c.prefix == bindparam("counter_prefix"))
             .values(last=COUNTERS.c.last + 1).returning(COUNTERS.c.last).cte("taken"))
    digits = cast(taken.c.last, String)
    number = bindparam("counter_prefix", type_=String) + func.lpad(digits, func.greatest(4, func.length(digits)), "0")
    others = [c for c in table.c if c.name != column and not c.primary_key]
    rows = select(number, *(bindparam(c.name, type_=c.type) for c in others)).select_from(taken)
    return (insert(table).from_select([column, *(c.name for c in others)], rows).add_cte(taken)
            .returning(*table.c))
