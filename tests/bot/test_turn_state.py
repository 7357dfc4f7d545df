"""A turn's Redis state (lock, de-duplication, session, ticket marker): run against the embedded and the server
Redis. The conversations through the HTTP API (tests/channels, tests/reliability) use it on every turn; these
pin down what they cannot see: TTLs, the lock's hand-over and sessions written by an older version.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from bot.session import Session
from bot.turn_state import TurnState
from core.errors import RateLimited, ServiceUnavailable
from core.keys import Prefix, key
from core.ratelimit import Budget

SESSION_TTL = 1800
DEDUPE_TTL = 3600
LOCK_SECONDS = 0.3


@pytest.fixture
def redis_client(each_redis: aioredis.Redis) -> aioredis.Redis:
    return each_redis


@pytest.fixture
def state(redis_client: aioredis.Redis) -> TurnState:
    return TurnState(redis_client, lock_seconds=LOCK_SECONDS, session_ttl_seconds=SESSION_TTL,
                     dedupe_ttl_seconds=DEDUPE_TTL)


async def test_a_new_user_has_no_session_answer_ticket_or_horizon(state: TurnState) -> None:
    begun = await state.begin("web:nobody", "m1")
    assert (begun.session, begun.answer, begun.ticket_marker, begun.horizon) == (None, None, None, None)


async def test_what_a_turn_stores_the_next_turn_reads(state: TurnState, redis_client: aioredis.Redis) -> None:
    session = Session("web:a", "web", flow="guide", misses=1, turns=3,
                      slots={"guide": {"item": "存量房转移登记", "have": [1, 2, 3]}},
                      buttons=[{"title": "材料清单", "payload": "材料"}])
    await redis_client.set(key(Prefix.USER_TICKET, "web:a"), "none")
    assert await state.finish(await state.begin("web:a", "m1"), session, '{"replies": []}', 0)

    again = await state.begin("web:a", "m1")  # a retry of the same message id
    assert again.session == session and again.answer == '{"replies": []}' and again.ticket_marker == "none"
    await state.release(again)
    nxt = await state.begin("web:a", "m2")
    assert nxt.session == session and nxt.answer is None


async def test_finishing_sets_and_renews_the_ttls(state: TurnState, redis_client: aioredis.Redis) -> None:
    await state.finish(await state.begin("web:a", "m1"), Session("web:a", "web"), "{}", 0)
    name = key(Prefix.SESSION, "web:a")
    await redis_client.expire(name, 5)
    await state.finish(await state.begin("web:a", "m2"), Session("web:a", "web", turns=1), "{}", 0)
    assert SESSION_TTL - 5 <= await redis_client.ttl(name) <= SESSION_TTL
    assert DEDUPE_TTL - 5 <= await redis_client.ttl(key(Prefix.DEDUPE, "web:a", "m2")) <= DEDUPE_TTL


async def test_an_expired_session_is_gone(state: TurnState, redis_client: aioredis.Redis) -> None:
    await state.finish(await state.begin("web:a", "m1"), Session("web:a", "web"), "{}", 0)
    await redis_client.pexpire(key(Prefix.SESSION, "web:a"), 1)
    # PEXPIRE 1 ms: instead of sleeping, ask Redis until the key is reported gone (bounded).
    for _ in range(1000):
        if not await redis_client.exists(key(Prefix.SESSION, "web:a")):
            break
    assert (await state.begin("web:a", "m2")).session is None


async def test_sessions_of_other_versions_still_load(state: TurnState, redis_client: aioredis.Redis) -> None:
    await redis_client.set(key(Prefix.SESSION, "web:a"), '{"user_id":"web:a","channel":"web","old_field":1}')
    session = (await state.begin("web:a", "m1")).session
    assert session is not None and session.user_id == "web:a" and session.flow is None


async def test_a_second_turn_waits_for_the_first(state: TurnState) -> None:
    first = await state.begin("web:a", "m1")
    second = asyncio.create_task(state.begin("web:a", "m2"))
    await asyncio.sleep(0.1)
    assert not second.done()
    await state.finish(first, Session("web:a", "web", turns=1), "{}", 0)
    begun = await asyncio.wait_for(second, 1)
    assert begun.session is not None and begun.session.turns == 1  # it read what the first one stored


def chat_budget(user_id: str, per_user: int) -> Budget:
    return Budget([("messages-user", user_id, per_user, 60), ("messages-ip", "10.0.0.1", 100, 60)], "发送太频繁了")


async def test_a_message_counts_once_against_its_limits_however_long_it_waits(state: TurnState,
                                                                              redis_client: aioredis.Redis) -> None:
    budget = chat_budget("web:a", 2)
    first = await state.begin("web:a", "m1", budget)
    second = asyncio.create_task(state.begin("web:a", "m2", budget))  # asks for the lock every 50 ms meanwhile
    await asyncio.sleep(0.2)
    await state.finish(first, Session("web:a", "web"), "{}", 9)
    await state.finish(await asyncio.wait_for(second, 1), Session("web:a", "web"), "{}", 9)
    assert await redis_client.get(key(Prefix.RATE, "messages-user", "web:a")) == "2"
    with pytest.raises(RateLimited) as refused:
        await state.begin("web:a", "m3", budget)
    assert refused.value.message.startswith("发送太频繁了，请 ") and 55 <= refused.value.retry_after <= 60
    # Refused before the lock: the user's horizon stays and the next turn (another channel's) begins at once.
    assert (await asyncio.wait_for(state.begin("web:a", "m4"), 0.2)).horizon == 9
    # The user's limit refused it: the address was not charged (as separate limit checks would not).
    assert await redis_client.get(key(Prefix.RATE, "messages-ip", "10.0.0.1")) == "2"


async def test_a_message_over_its_limits_is_refused_at_once_while_another_turn_runs(
        redis_client: aioredis.Redis) -> None:
    patient = TurnState(redis_client, lock_seconds=5, session_ttl_seconds=SESSION_TTL, dedupe_ttl_seconds=DEDUPE_TTL)
    budget = chat_budget("web:a", 1)
    await patient.finish(await patient.begin("web:a", "m1", budget), Session("web:a", "web"), "{}", 0)
    await patient.begin("web:a", "m2")  # a turn of another channel holds the lock
    with pytest.raises(RateLimited):  # not a wait of 5 s for the lock, then a 503
        await asyncio.wait_for(patient.begin("web:a", "m3", budget), 1)
    assert await redis_client.get(key(Prefix.RATE, "messages-user", "web:a")) == "1"


async def test_other_users_do_not_wait(state: TurnState) -> None:
    await state.begin("web:a", "m1")
    assert (await asyncio.wait_for(state.begin("web:b", "m1"), 0.2)).session is None


async def test_a_turn_stuck_past_the_lock_gives_busy_then_the_lock_expires(state: TurnState,
                                                                            redis_client: aioredis.Redis) -> None:
    patient = TurnState(redis_client, lock_seconds=5, session_ttl_seconds=SESSION_TTL, dedupe_ttl_seconds=DEDUPE_TTL)
    stuck = await patient.begin("web:a", "m1")
    with pytest.raises(ServiceUnavailable) as refused:
        await state.begin("web:a", "m2")  # waits its own lock's lifetime (0.3 s), the stuck turn holds 5 s
    assert refused.value.code == "busy"
    await redis_client.pexpire(key(Prefix.USER_LOCK, "web:a"), 1)  # the stuck turn's lock runs out
    later = await patient.begin("web:a", "m3")
    # The stuck turn finishing late stores its answer but must not release the lock of the turn now running.
    assert not await patient.finish(stuck, Session("web:a", "web"), "{}", 0)
    with pytest.raises(ServiceUnavailable):
        await state.begin("web:a", "m4")
    await patient.release(later)
    assert (await state.begin("web:a", "m4")).session is not None


async def test_release_stores_nothing(state: TurnState) -> None:
    await state.release(await state.begin("web:a", "m1"))
    begun = await state.begin("web:a", "m1")
    assert begun.answer is None and begun.session is None


async def test_the_horizon_is_away_while_a_turn_runs(state: TurnState, redis_client: aioredis.Redis) -> None:
    """A turn that never finishes (its worker died) must leave no horizon: the next turn then asks SQL."""
    await state.finish(await state.begin("web:a", "m1"), Session("web:a", "web"), "{}", 1_700_000_000)
    second = await state.begin("web:a", "m2")
    assert second.horizon == 1_700_000_000
    assert not await redis_client.exists(key(Prefix.DEDUPE_HORIZON, "web:a"))
    await redis_client.pexpire(key(Prefix.USER_LOCK, "web:a"), 1)  # the worker died: its lock runs out
    for _ in range(1000):
        if not await redis_client.exists(key(Prefix.USER_LOCK, "web:a")):
            break
    assert (await state.begin("web:a", "m3")).horizon is None


async def test_finishing_sets_the_horizon_for_the_dedupe_ttl(state: TurnState, redis_client: aioredis.Redis) -> None:
    await state.finish(await state.begin("web:a", "m1"), Session("web:a", "web"), "{}", 1_700_000_000)
    assert DEDUPE_TTL - 5 <= await redis_client.ttl(key(Prefix.DEDUPE_HORIZON, "web:a")) <= DEDUPE_TTL
    assert (await state.begin("web:a", "m2")).horizon == 1_700_000_000


async def test_a_turn_that_outlived_its_lock_sets_no_horizon(state: TurnState, redis_client: aioredis.Redis) -> None:
    patient = TurnState(redis_client, lock_seconds=5, session_ttl_seconds=SESSION_TTL, dedupe_ttl_seconds=DEDUPE_TTL)
    stuck = await patient.begin("web:a", "m1")
    await redis_client.pexpire(key(Prefix.USER_LOCK, "web:a"), 1)
    later = await patient.begin("web:a", "m2")  # running: it may yet die after logging its message
    assert not await patient.finish(stuck, Session("web:a", "web"), "{}", 5)
    assert not await redis_client.exists(key(Prefix.DEDUPE_HORIZON, "web:a"))
    await patient.finish(later, Session("web:a", "web"), "{}", 7)
    assert (await state.begin("web:a", "m3")).horizon == 7


async def test_release_gives_back_only_the_horizon_it_is_given(state: TurnState) -> None:
    await state.finish(await state.begin("web:a", "m1"), Session("web:a", "web"), "{}", 42)
    duplicate = await state.begin("web:a", "m1")
    await state.release(duplicate, duplicate.horizon)  # a retry answered from Redis changed nothing
    failed = await state.begin("web:a", "m2")
    assert failed.horizon == 42
    await state.release(failed)  # a turn that failed may have logged its message
    assert (await state.begin("web:a", "m3")).horizon is None


async def test_a_horizon_written_by_hand_counts_as_none(state: TurnState, redis_client: aioredis.Redis) -> None:
    await redis_client.set(key(Prefix.DEDUPE_HORIZON, "web:a"), "soon")
    assert (await state.begin("web:a", "m1")).horizon is None
