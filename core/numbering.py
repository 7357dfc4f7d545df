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
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    CTE,
    ColumnDefault,
    Insert,
    Select,
    String,
    Table,
    bindparam,
    cast,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import SessionFactory, single_statement_engine, upsert_insert

T = TypeVar("T")
ATTEMPTS = 5  # a clash needs a record numbered outside the counter; each one moves the counter past it
NEWEST = 20  # records read to find the last number of a day: more than workers can number at once
# Dependent rows one statement carries (each one a WITH clause, and each count its own statement to cache);
# more (a long conversation handed to staff) take the transaction path.
ONE_STATEMENT_ROWS = 12


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


async def _run(db: AsyncSession, statement: Any, params: Any = None) -> Any:
    """A Core statement in the session's transaction (with `params`: a list of them runs it once for each),
    its result as SQLAlchemy returns it.
    """
    return await db.exec(statement, params=params)


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
    clash: IntegrityError | None = None
    async with _lock(db_factory, prefix):
        for _attempt in range(ATTEMPTS):
            async with db_factory() as db:
                number = await _take(db, column, prefix, at_least)
                try:  # build() may flush: a clash can show there as well as at the commit
                    result = await build(db, f"{prefix}{number:04d}")
                    await db.commit()
                except IntegrityError as exc:
                    await db.rollback()
                    clash = exc
                    # A record numbered outside the counter holds this number: go past the newest ones.
                    at_least = max(await _last_number(db, column, prefix), number) + 1
                else:
                    return result
    # Not a clash after all (a constraint the record itself breaks): its own error says which.
    raise RuntimeError(f"could not number a record under {prefix}") from clash


@dataclass(frozen=True)
class Dependents:
    """Rows of another table stored together with a numbered record, each pointing at it by `parent_column`
    (a case's first events). Columns left out take their default, or NULL.
    """

    table: Table
    parent_column: str
    rows: Sequence[dict[str, Any]]


def _complete(table: Table, values: dict[str, Any], *, leave: Collection[str] = ()) -> dict[str, Any]:
    """`values` with every other column of `table` (but the primary key and `leave`) at its default or None:
    the one statement binds a value for every column.
    """
    full = dict(values)
    for c in table.c:
        if c.name not in full and not c.primary_key and c.name not in leave:
            default = c.default
            full[c.name] = default.arg if isinstance(default, ColumnDefault) and default.is_scalar else None
    return full


async def insert_numbered(db_factory: SessionFactory, table: Table, column: str, prefix: str,
                          values: dict[str, Any], dependents: Sequence[Dependents] = ()) -> RowMapping:
    """Insert one row of `table` with the next number under `prefix` in `column`, and its `dependents`; the
    row as stored.

    For records made in a conversation's turn (预审, a complaint with its first events, a 转人工 ticket with the
    conversation so far): Core INSERTs, no model
    to build, validate and flush, which cost more than the statements themselves (issue 9). On PostgreSQL the
    number is taken and all the rows inserted by one statement in autocommit, one round trip instead of four or
    more (BEGIN, UPDATE, INSERT…, COMMIT); elsewhere, and for the day's first record, a clash and more than
    `ONE_STATEMENT_ROWS` dependent rows, `save_numbered` runs the INSERTs in its transaction.
    """
    values = _complete(table, values, leave=(column,))
    children = [Dependents(d.table, d.parent_column, [_complete(d.table, r, leave=(d.parent_column,))
                                                       for r in d.rows]) for d in dependents]
    engine = single_statement_engine(db_factory)
    if engine.dialect.name == "postgresql" and sum(len(d.rows) for d in children) <= ONE_STATEMENT_ROWS:
        shape = tuple((d.table, d.parent_column, len(d.rows)) for d in children)
        statement = _one_statement_insert(table, column, shape)
        params = {**values, "counter_prefix": prefix}
        for i, d in enumerate(children):
            for j, child in enumerate(d.rows):
                params.update({f"d{i}_{j}_{name}": value for name, value in child.items()})
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(statement, params)).mappings().first()
        except IntegrityError:  # a record numbered outside the counter holds the number
            row = None
        if row is not None:
            return row

    async def build(db: AsyncSession, number: str) -> RowMapping:
        stored: RowMapping = (await _run(db, _insert_returning(table), {**values, column: number})).mappings().one()
        parent_id = stored[next(iter(table.primary_key.columns)).name]
        for d in children:
            if d.rows:
                await _run(db, insert(d.table), [{**r, d.parent_column: parent_id} for r in d.rows])
        return stored

    return await save_numbered(db_factory, table.c[column], prefix, build)


@functools.cache
def _insert_returning(table: Table) -> Insert:
    """`INSERT INTO table … RETURNING *`, its values given when it runs. Built once per table."""
    return insert(table).returning(*table.c)


@functools.cache
def _one_statement_insert(table: Table, column: str,
                          dependents: tuple[tuple[Table, str, int], ...] = ()) -> Select[Any]:
    """PostgreSQL: `WITH taken AS (UPDATE record_counter … RETURNING last), numbered AS (INSERT INTO table
    SELECT prefix || the number padded to 4 digits, the values… FROM taken RETURNING *), d0_0 AS (INSERT INTO
    a dependent table SELECT numbered.id, the values… FROM numbered RETURNING id), d0_1 AS (… FROM numbered JOIN
    d0_0 ON true …), … SELECT * FROM numbered`. No row when the prefix has no counter yet. Built once per shape:
    building a statement costs more than running it.
    """
    taken = (update(COUNTERS).where(COUNTERS.c.prefix == bindparam("counter_prefix"))
             .values(last=COUNTERS.c.last + 1).returning(COUNTERS.c.last).cte("taken"))
    digits = cast(taken.c.last, String)
    number = bindparam("counter_prefix", type_=String) + func.lpad(digits, func.greatest(4, func.length(digits)), "0")
    others = [c for c in table.c if c.name != column and not c.primary_key]
    rows = select(number, *(bindparam(c.name, type_=c.type) for c in others)).select_from(taken)
    primary_key = next(iter(table.primary_key.columns))
    numbered = (insert(table).from_select([column, *(c.name for c in others)], rows)
                .returning(*table.c).cte("numbered"))
    added: list[CTE] = []
    for i, (dependent, parent_column, count) in enumerate(dependents):
        fields = [c for c in dependent.c if c.name != parent_column and not c.primary_key]
        dependent_key = next(iter(dependent.primary_key.columns))
        for j in range(count):
            # PostgreSQL runs the WITH clauses in no set order: reading the previous row's RETURNING makes it go
            # first, so the rows get their ids (a case's timeline order) in the order given.
            after = numbered.join(added[-1], true()) if added else numbered
            source = select(numbered.c[primary_key.name],
                            *(bindparam(f"d{i}_{j}_{c.name}", type_=c.type) for c in fields)).select_from(after)
            added.append(insert(dependent).from_select([parent_column, *(c.name for c in fields)], source)
                         .returning(dependent_key).cte(f"d{i}_{j}"))
    return select(numbered).add_cte(taken, *added)
