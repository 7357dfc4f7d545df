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
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import SessionFactory

T = TypeVar("T")
ATTEMPTS = 8
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


async def save_numbered(db_factory: SessionFactory, column: Any, prefix: str,
                        build: Callable[[AsyncSession, str], Awaitable[T]]) -> T:
    """Run `build(db, number)` with the next free number under `prefix` and commit; retry on a clash.

    The day's count is read from SQL once, then carried on in this process; a clash (another worker took the
    number) reads it again. So a record costs one count query per day and process, not one each.
    """
    sequence = _sequence(db_factory, prefix)
    retry_from = 1
    async with sequence.lock:
        for attempt in range(ATTEMPTS):
            async with db_factory() as db:
                count = None
                if sequence.next is None:
                    count = (await db.exec(select(func.count()).where(col(column).startswith(prefix)))).one()
                number = max(int(count) + 1, retry_from) if count is not None else sequence.next or 1
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
