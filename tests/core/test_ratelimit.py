"""The fixed-window rate limiter, against the embedded and the server Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from core.errors import RateLimited
from core.keys import Prefix, key
from core.ratelimit import Budget, RateLimiter


@pytest.fixture
def redis_client(each_redis: aioredis.Redis) -> aioredis.Redis:
    return each_redis


class TestRateLimiter:
    async def test_hits_up_to_the_limit_pass_and_the_next_is_refused(self, redis_client: aioredis.Redis) -> None:
        limiter = RateLimiter(redis_client)
        for _ in range(3):
            await limiter.hit("login-user", "alice", limit=3, window_seconds=900)
        with pytest.raises(RateLimited) as caught:
            await limiter.hit("login-user", "alice", limit=3, window_seconds=900)
        assert caught.value.status == 429 and caught.value.code == "rate_limited"
        assert 890 <= caught.value.retry_after <= 900
        assert "15 分钟" in caught.value.message

    async def test_counter_expires_with_its_window(self, redis_client: aioredis.Redis) -> None:
        limiter = RateLimiter(redis_client)
        await limiter.hit("login-ip", "10.0.0.1", limit=5, window_seconds=60)
        redis_key = key(Prefix.RATE, "login-ip", "10.0.0.1")
        assert await redis_client.get(redis_key) == "1"
        assert 0 < await redis_client.ttl(redis_key) <= 60

    async def test_a_counter_left_without_ttl_gets_one_on_the_next_hit(self, redis_client: aioredis.Redis) -> None:
        redis_key = key(Prefix.RATE, "login-user", "bob")
        await redis_client.set(redis_key, 2)  # as if a crash had come between INCR and EXPIRE
        await RateLimiter(redis_client).hit("login-user", "bob", limit=5, window_seconds=900)
        assert await redis_client.get(redis_key) == "3"
        assert 0 < await redis_client.ttl(redis_key) <= 900

    async def test_check_counts_nothing_and_refuses_once_the_budget_is_used(self, redis_client: aioredis.Redis) -> None:
        limiter = RateLimiter(redis_client)
        for _ in range(5):
            await limiter.check("login-user", "carol", limit=2, window_seconds=900)
        assert await redis_client.get(key(Prefix.RATE, "login-user", "carol")) is None
        await limiter.hit("login-user", "carol", limit=2, window_seconds=900)
        await limiter.check("login-user", "carol", limit=2, window_seconds=900)
        await limiter.hit("login-user", "carol", limit=2, window_seconds=900)
        with pytest.raises(RateLimited) as caught:
            await limiter.check("login-user", "carol", limit=2, window_seconds=900, message="登录失败次数过多")
        assert caught.value.message.startswith("登录失败次数过多，请 ")
        assert caught.value.retry_after > 0

    async def test_reset_and_subjects_are_independent(self, redis_client: aioredis.Redis) -> None:
        limiter = RateLimiter(redis_client)
        await limiter.hit("login-user", "dave", limit=1, window_seconds=900)
        with pytest.raises(RateLimited):
            await limiter.check("login-user", "dave", limit=1, window_seconds=900)
        await limiter.check("login-user", "erin", limit=1, window_seconds=900)
        await limiter.check("login-ip", "dave", limit=1, window_seconds=900)
        await limiter.reset("login-user", "dave")
        await limiter.check("login-user", "dave", limit=1, window_seconds=900)

    async def test_hit_all_stops_at_the_first_limit_over(self, redis_client: aioredis.Redis) -> None:
        limiter = RateLimiter(redis_client)
        budget = Budget([("messages-user", "u1", 2, 60), ("messages-ip", "1.2.3.4", 10, 60)], message="发送太频繁了")
        await limiter.hit_all(budget)
        await limiter.hit_all(budget)
        with pytest.raises(RateLimited) as caught:
            await limiter.hit_all(budget)
        assert caught.value.message.startswith("发送太频繁了") and 55 <= caught.value.retry_after <= 60
        # the user's limit refused the third: the address's counter was not charged for it
        assert await redis_client.get(key(Prefix.RATE, "messages-ip", "1.2.3.4")) == "2"
        assert 55 <= await redis_client.ttl(key(Prefix.RATE, "messages-user", "u1")) <= 60
