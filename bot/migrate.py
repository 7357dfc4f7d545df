"""Schema migrations (Alembic), run programmatically on the app's own async engine.

Every start migrates, and almost every start finds the schema already at the newest revision. Importing and
running Alembic to learn that took about a fifth of a start-up (0.7–0.9 s, bench/RESULTS.md, issue 9), so the
revision is read first with one SELECT, and Alembic is imported only when there is something to do.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("bot.migrate")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration in bot/migrations/versions (a test checks it against Alembic's own head).
HEAD_REVISION = "0012"


def alembic_config() -> Config:
    """An Alembic config pointing at bot/migrations, independent of the working directory."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The revision the database's schema is at, or None when it has none yet (an empty database)."""
    try:
        async with engine.connect() as conn:
            revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except DBAPIError:  # no alembic_version table; a database that cannot be reached fails in migrate too
        return None
    return str(revision) if revision is not None else None


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest)."""
    target = HEAD_REVISION if revision == "head" else revision
    if await schema_revision(engine) == target:
        log.info("database schema is at %s", target)
        return

    def _upgrade(connection: Connection) -> None:
        from alembic import command

        config = alembic_config()
        config.attributes["connection"] = connection  # env.py uses it instead of opening its own
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
    log.info("database schema is at %s", target)
