"""Alembic environment: the app passes its connection in; the `alembic` CLI uses YICHUANG_DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import bot.models  # noqa: F401  (registers the tables on SQLModel.metadata)
import core.numbering  # noqa: F401
import handoff.appointments
import handoff.case_models
import handoff.evaluations
import handoff.staff
import handoff.tickets  # noqa: F401
import policy_kb.models
import policy_kb.prechecks  # noqa: F401
from core.db import create_engine
from core.settings import load_settings

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = create_engine(load_settings())
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_with_own_engine())
