"""Daily record numbers (YS20261122-0007, BBC20261122-0003): the prefix names the kind and the day, the
sequence counts that day's records. Within one process, numbering under a prefix is taken one at a time
(concurrent turns would otherwise all read the same count and clash); two workers numbering at once are
settled by the unique constraint: the loser rolls back, waits a moment and takes the next number.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import SessionFactory

T = TypeVar("T")
ATTEMPTS = 8
RETRY_PAUSE_SECONDS = 0.005  # times the attempt number, with jitter: workers that clashed spread out

# One lock per prefix for each session factory (one factory per app, so tests' apps never share a lock).
_locks: weakref.WeakKeyDictionary[SessionFactory, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _lock(db_factory: SessionFactory, prefix: str) -> asyncio.Lock:
    return _locks.setdefault(db_factory, {}).setdefault(prefix, asyncio.Lock())


async def save_numbered(db_factory: SessionFactory, column: Any, prefix: str,
                        build: Callable[[AsyncSession, str], Awaitable[T]]) -> T:
    """Run `build(db, number)` with the next free number under `prefix` and commit; retry on a clash."""
    async with _lock(db_factory, prefix):
        for attempt in range(ATTEMPTS):
            async with db_factory() as db:
                count = (await db.exec(select(func.count()).where(col(column).startswith(prefix)))).one()
                result = await build(db, f"{prefix}{int(count) + 1:04d}")
                try:
                    await db.commit()
                    return result
                except IntegrityError:
                    await db.rollback()
            await asyncio.sleep(RETRY_PAUSE_SECONDS * (attempt + 1) * random.random())
    raise RuntimeError(f"could not number a record under {prefix}")
