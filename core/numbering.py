"""Daily record numbers (YS20261122-0007, BBC20261122-0003): the prefix names the kind and the day, the
sequence counts that day's records. Within one process, numbering under a prefix is taken one at a time
(concurrent turns would otherwise all read the same count and clash) and carried on from the last number
given; two workers numbering at once are settled by the unique constraint: the loser rolls back, counts
again, waits a moment and takes the next number.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import SessionFactory

T = TypeVar("T")
ATTEMPTS = 8
NEWEST = 20  # records read to find the last number: more than workers can number at once
RETRY_PAUSE_SECONDS = 0.005  # times the attempt number, with jitter: workers that clashed spread out


@dataclass
class _Sequence:
    """Numbering state of one prefix in this process: taken one at a time; `next` is known after a success."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next: int | None = None


# Per session factory (one per app, so tests' apps never share state), per prefix.
_sequences: weakref.WeakKeyDictionary[SessionFactory, dict[str, _Sequence]] = weakref.WeakKeyDictionary()


def _sequence(db_factory: SessionFactory, prefix: str) -> _Sequence:
    return _sequences.setdefault(db_factory, {}).setdefault(prefix, _Sequence())


async def _last_number(db: AsyncSession, column: Any, prefix: str) -> int:
    """The highest number under `prefix` among the newest records of the table (by primary key).

    Not a count of the prefix, nor a LIKE: PostgreSQL cannot use the column's index for LIKE 'prefix%' under a
    non-C collation and read the whole table, again after every clash between two workers: in issue 9's soak
    the server fell behind as the tables grew. Each table numbers under one prefix a day, so today's records
    are the newest ones (none among them: today has none yet), and numbers given out of order by concurrent
    workers are all among the newest.
    """
    primary_key = next(iter(column.table.primary_key.columns))
    numbers = (await db.exec(select(column).order_by(primary_key.desc()).limit(NEWEST))).all()
    return max((int(number[len(prefix):]) for number in numbers
                if number.startswith(prefix) and number[len(prefix):].isdigit()), default=0)


async def save_numbered(db_factory: SessionFactory, column: Any, prefix: str,
                        build: Callable[[AsyncSession, str], Awaitable[T]]) -> T:
    """Run `build(db, number)` with the next free number under `prefix` and commit; retry on a clash.

    The last number is read from SQL once, then carried on in this process; a clash (another worker took the
    number) reads it again.
    """
    sequence = _sequence(db_factory, prefix)
    retry_from = 1
    async with sequence.lock:
        for attempt in range(ATTEMPTS):
            async with db_factory() as db:
                number = sequence.next or 1
                if sequence.next is None:
                    number = max(await _last_number(db, column, prefix) + 1, retry_from)
                try:  # build() may flush: the clash can show there as well as at the commit
                    result = await build(db, f"{prefix}{number:04d}")
                    await db.commit()
                except IntegrityError:
                    await db.rollback()
                    # Count again (the other worker's record may not be committed yet: never go back).
                    sequence.next, retry_from = None, number + 1
                else:
                    sequence.next = number + 1
                    return result
            await asyncio.sleep(RETRY_PAUSE_SECONDS * (attempt + 1) * random.random())
    raise RuntimeError(f"could not number a record under {prefix}")
