"""The bounded Redis connection pool (core/redis.BoundedConnectionPool) against the suite's Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from core.redis import BoundedConnectionPool, open_redis
from core.settings import Settings
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


def pooled(url: str, name: str, limit: int, wait_seconds: float, **options: Any) -> aioredis.Redis:
    """A client on a BoundedConnectionPool whose connections are named `name`."""
    pool = BoundedConnectionPool.from_url(url, limit=limit, wait_seconds=wait_seconds, client_name=name,
                                          decode_responses=True, **options)
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


async def test_connections_nobody_took_for_the_idle_time_are_closed(redis_url: str, name: str,
                                                                    probe: aioredis.Redis) -> None:
    """After a peak the pool shrinks back to what the load uses (issue 9's soak: no growth in connections)."""
    now = [0.0]
    client = pooled(redis_url, name, limit=10, wait_seconds=1, idle_seconds=60, clock=lambda: now[0])
    pool = client.connection_pool
    try:
        peak = [await pool.get_connection() for _ in range(4)]  # four commands at once
        for connection in peak:
            await pool.release(connection)
        assert await connections_named(probe, name) == 4
        now[0] = 59.0
        assert await client.ping()  # within the idle time: nothing is closed
        assert await connections_named(probe, name) == 4
        now[0] = 100.0
        # The ping takes the connection used last and closes, as it comes back, the three unused since 0 s.
        assert await client.ping()
        assert await connections_named(probe, name) == 1
        assert await asyncio.gather(*(client.blpop([f"{name}:empty"], timeout=0.1) for _ in range(3))) == [None] * 3
        assert await connections_named(probe, name) == 3  # a new peak opens what it needs again
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


async def test_connections_the_server_closed_are_replaced_without_an_error(settings: Settings, name: str,
                                                                          probe: aioredis.Redis) -> None:
    """The pool lends a connection without first probing its socket: one that Redis closed while it sat in the
    pool (a restart, an idle timeout) fails its command, which the app's client retries on a new connection."""
    async with open_redis(settings.model_copy(update={"redis_pool_size": 4})) as client:
        assert await asyncio.gather(*(client.set(f"{name}:{n}", n) for n in range(4))) == [True] * 4
        # Four commands at once take the pool's four connections, one each.
        connection_ids = set(await asyncio.gather(*(client.client_id() for _ in range(4))))
        assert len(connection_ids) == 4
        for connection_id in connection_ids:
            await probe.client_kill_filter(_id=str(connection_id))
        assert await asyncio.gather(*(client.get(f"{name}:{n}") for n in range(4))) == ["0", "1", "2", "3"]


async def test_a_cancelled_command_leaves_no_reply_behind_for_the_next_one(redis_url: str, name: str,
                                                                          probe: aioredis.Redis) -> None:
    """A request cancelled while its command waits (the client went away) must not hand the late reply to the
    next command on that connection: redis-py disconnects it, and the pool connects it afresh."""
    client = pooled(redis_url, name, limit=1, wait_seconds=5)
    try:
        await client.set(f"{name}:key", "right")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.blpop([f"{name}:list"], timeout=3), 0.2)
        await probe.rpush(f"{name}:list", "late")  # what the cancelled BLPOP would have received
        assert await client.get(f"{name}:key") == "right"  # the same single slot, not the BLPOP's reply
        assert await probe.lrange(f"{name}:list", 0, -1) == ["late"]  # and nothing popped it
    finally:
        await client.aclose()


async def test_commands_go_out_as_redis_py_packs_them_and_come_back_intact(redis_url: str) -> None:
    """The pool's connections pack with hiredis: the same bytes as redis-py's own packer, and a script's
    Chinese, numeric and binary arguments arrive as sent.
    """
    pool = BoundedConnectionPool.from_url(redis_url, limit=2, wait_seconds=1, decode_responses=True)
    client = aioredis.Redis.from_pool(pool)
    try:
        connection = await pool.get_connection()
        args = ("EVALSHA", "0" * 40, 2, "用户:1", b"\x00\xff", "材料预审 YS20261124-0001", 3.5, 10**12)
        python_packed = aioredis.Connection.pack_command(connection, *args)
        assert b"".join(connection.pack_command(*args)) == b"".join(python_packed)
        await pool.release(connection)
        echo = client.register_script("return {ARGV[1], ARGV[2], KEYS[1]}")
        assert await echo(keys=["键"], args=["营业执照变更办不了", 42]) == ["营业执照变更办不了", "42", "键"]
    finally:
        await client.aclose()
