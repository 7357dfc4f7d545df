"""The bounded Redis connection pool (core/redis.BoundedConnectionPool) against the suite's Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis

from core.redis import BoundedConnectionPool
from tests.reliability.faults import free_port


@pytest.fixture
def name() -> str:
    """A client name of this test's pool alone, to count its connections on a shared server."""
    return f"test-pool-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def probe(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client outside the pool under test."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def pooled(url: str, name: str, limit: int, wait_seconds: float) -> aioredis.Redis:
    """A client on a BoundedConnectionPool whose connections are named `name`."""
    pool = BoundedConnectionPool.from_url(url, limit=limit, wait_seconds=wait_seconds, client_name=name,
                                          decode_responses=True)
    return aioredis.Redis.from_pool(pool)


async def connections_named(probe: aioredis.Redis, name: str) -> int:
    """How many connections of that name the server has."""
    return sum(1 for c in await probe.client_list() if c.get("name") == name)


async def test_commands_past_the_limit_wait_for_a_free_connection(redis_url: str, name: str,
                                                                  probe: aioredis.Redis) -> None:
    client = pooled(redis_url, name, limit=2, wait_seconds=10)
    try:
        # Each BLPOP holds its connection for 0.2 s: six of them need three rounds of two.
        results = await asyncio.gather(*(client.blpop([f"{name}:empty"], timeout=0.2) for _ in range(6)))
        assert results == [None] * 6
        assert await connections_named(probe, name) == 2
    finally:
        await client.aclose()


async def test_a_command_that_waits_too_long_fails_and_the_pool_recovers(redis_url: str, name: str) -> None:
    client = pooled(redis_url, name, limit=2, wait_seconds=0.1)
    pool = client.connection_pool
    try:
        held = [await pool.get_connection() for _ in range(2)]  # as two long commands would
        with pytest.raises(redis.ConnectionError, match="all 2 are busy"):
            await client.ping()
        await pool.release(held.pop())
        assert await client.ping()  # one free again
        await pool.release(held.pop())
        assert await asyncio.gather(*(client.ping() for _ in range(5))) == [True] * 5  # nothing leaked
    finally:
        await client.aclose()


async def test_failed_connects_give_their_slot_back(name: str) -> None:
    client = pooled(f"redis://127.0.0.1:{free_port()}/0", name, limit=2, wait_seconds=0.1)
    try:
        for _ in range(4):  # more failures than slots: each one is a connect error, never "all busy"
            with pytest.raises(redis.ConnectionError) as failure:
                await client.ping()
            assert "busy" not in str(failure.value)
    finally:
        await client.aclose()
