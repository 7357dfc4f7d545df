"""Contract of the session store: one test class, run against the embedded and the server Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.session import RedisSessionStore, Session
from core.keys import Prefix, key
from core.redis import EmbeddedRedis
from tests.backends import require_server_redis

TTL = 1800


@pytest.fixture(params=["embedded", "server"])
async def store_and_redis(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RedisSessionStore, aioredis.Redis]]:
    if request.param == "embedded":
        embedded: EmbeddedRedis = request.getfixturevalue("embedded_redis")
        url = embedded.url
    else:
        url = require_server_redis()
    client = aioredis.Redis.from_url(url, decode_responses=True)
    await client.flushdb()
    yield RedisSessionStore(client, ttl_seconds=TTL), client
    await client.flushdb()
    await client.aclose()


class TestSessionStoreContract:
    async def test_unknown_user_has_no_session(self, store_and_redis) -> None:  # type: ignore[no-untyped-def]
        store, _ = store_and_redis
        assert await store.load("web:nobody") is None

    async def test_saved_session_loads_back_equal(self, store_and_redis) -> None:  # type: ignore[no-untyped-def]
        store, _ = store_and_redis
        session = Session("web:a", "web", flow="guide", misses=1, turns=3,
                          slots={"guide": {"item": "存量房转移登记", "have": [1, 2, 3]}},
                          buttons=[{"title": "材料清单", "payload": "材料"}])
        await store.save(session)
        assert await store.load("web:a") == session

    async def test_save_sets_and_refreshes_the_idle_ttl(self, store_and_redis) -> None:  # type: ignore[no-untyped-def]
        store, client = store_and_redis
        await store.save(Session("web:a", "web"))
        name = key(Prefix.SESSION, "web:a")
        await client.expire(name, 5)
        await store.save(Session("web:a", "web", turns=1))
        assert TTL - 5 <= await client.ttl(name) <= TTL

    async def test_expired_session_is_gone(self, store_and_redis) -> None:  # type: ignore[no-untyped-def]
        store, client = store_and_redis
        await store.save(Session("web:a", "web"))
        await client.pexpire(key(Prefix.SESSION, "web:a"), 1)
        # PEXPIRE 1 ms: instead of sleeping, ask Redis until the key is reported gone (bounded).
        for _ in range(1000):
            if not await client.exists(key(Prefix.SESSION, "web:a")):
                break
        assert await store.load("web:a") is None

    async def test_delete_forgets(self, store_and_redis) -> None:  # type: ignore[no-untyped-def]
        store, _ = store_and_redis
        await store.save(Session("web:a", "web"))
        await store.delete("web:a")
        assert await store.load("web:a") is None

    async def test_sessions_of_other_versions_still_load(self, store_and_redis) -> None:  # type: ignore[no-untyped-def]
        store, client = store_and_redis
        await client.set(key(Prefix.SESSION, "web:a"), '{"user_id":"web:a","channel":"web","old_field":1}')
        session = await store.load("web:a")
        assert session is not None and session.user_id == "web:a" and session.flow is None
