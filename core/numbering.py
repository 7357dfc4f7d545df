"""Daily record numbers (YS20261122-0007, BBC20261122-0003): the prefix names the kind and the day, the
sequence counts that day's records. Two workers numbering at once are settled by the unique constraint:
the loser rolls back and takes the next number.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import SessionFactory

T = TypeVar("T")
ATTEMPTS = 8


async def save_numbered(db_factory: SessionFactory, column: Any, prefix: str,
                        build: Callable[[AsyncSession, str], Awaitable[T]]) -> T:
    """Run `build(db, number)` with the next free number under `prefix` and commit; retry on a clash."""
    for _ in range(ATTEMPTS):
        async with db_factory() as db:
            count = (await db.exec(select(func.count()).where(col(column).startswith(prefix)))).one()
            try:
                # PostgreSQL refuses the clashing number as soon as `build` flushes, SQLite only at commit.
                result = await build(db, f"{prefix}{int(count) + 1:04d}")
                await db.commit()
                return result
            except IntegrityError:
                await db.rollback()
    raise RuntimeError(f"could not number a record under {prefix}")
