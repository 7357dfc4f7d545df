"""The worker's shared pub/sub connection (core/pubsub.py), on the embedded and the server Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.pubsub import MissedMessages, Subscriber

WAIT = 10.0  # a bound on each wait, not a measurement


def channel() -> str:
    """A channel of this test alone (the server Redis is shared with other runs)."""
    return f"test:pubsub:{uuid.uuid4().hex}"


async def pubsub_client_ids(redis: aioredis.Redis) -> set[str]:
    """Ids of the connections in pub/sub mode on this Redis."""
    return {str(c["id"]) for c in await redis.client_list(_type="pubsub")}


async def numsub(redis: aioredis.Redis, name: str) -> int:
    """How many connections are subscribed to `name`."""
    return int(dict(await redis.pubsub_numsub(name))[name])


async def settled(subscriber: Subscriber) -> None:
    """Until Redis has carried out every (un)subscription the subscriber sent: it answers them in order, and
    `listen` returns once its own is confirmed."""
    async with subscriber.listen(channel()):
        pass


async def test_every_listener_gets_every_message_over_one_connection(each_redis: aioredis.Redis) -> None:
    news, other = channel(), channel()
    before = await pubsub_client_ids(each_redis)
    async with (Subscriber(each_redis).running() as subscriber, subscriber.listen(news) as a,
                subscriber.listen(news) as b, subscriber.listen(other) as c):
        assert len(await pubsub_client_ids(each_redis) - before) == 1  # three listeners, one connection
        assert subscriber.listeners(news) == 2
        for text in ("一", "二", "三"):
            assert await each_redis.publish(news, text) == 1  # one receiving connection
        await each_redis.publish(other, "别的")
        assert [await a.get(WAIT) for _ in range(3)] == ["一", "二", "三"]
        assert [await b.get(WAIT) for _ in range(3)] == ["一", "二", "三"]
        assert await c.get(WAIT) == "别的"
        assert await a.get(0.05) is None  # nothing more: a wait that ends empty


async def test_a_message_published_as_soon_as_listen_returns_arrives(each_redis: aioredis.Redis) -> None:
    async with Subscriber(each_redis).running() as subscriber:
        for _ in range(20):
            name = channel()
            async with subscriber.listen(name) as inbox:
                await each_redis.publish(name, "到了")
                assert await inbox.get(WAIT) == "到了"


async def test_a_channel_is_dropped_with_its_last_listener(each_redis: aioredis.Redis) -> None:
    name = channel()
    async with Subscriber(each_redis).running() as subscriber:
        async with subscriber.listen(name):
            async with subscriber.listen(name):
                assert await numsub(each_redis, name) == 1
            assert await numsub(each_redis, name) == 1  # one listener left
        await settled(subscriber)
        assert await numsub(each_redis, name) == 0
        assert subscriber.listeners(name) == 0
        async with subscriber.listen(name) as again:  # and it can be listened to again
            await each_redis.publish(name, "再来")
            assert await again.get(WAIT) == "再来"


async def test_a_listener_that_falls_behind_is_told_it_missed_messages(each_redis: aioredis.Redis,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.pubsub.INBOX_SIZE", 3)
    name = channel()
    async with (Subscriber(each_redis).running() as subscriber, subscriber.listen(name) as slow,
                subscriber.listen(name) as quick):
        for n in range(5):
            await each_redis.publish(name, str(n))
            assert await quick.get(WAIT) == str(n)  # so the reader has handed message n to both
        with pytest.raises(MissedMessages):
            await slow.get(WAIT)
        assert await slow.get(0.05) is None  # told once; what it had queued is dropped, it catches up
        await each_redis.publish(name, "新")
        assert await slow.get(WAIT) == "新"


async def test_after_its_connection_is_killed_listeners_catch_up_and_hear_again(each_redis: aioredis.Redis) -> None:
    name = channel()
    before = await pubsub_client_ids(each_redis)
    async with Subscriber(each_redis).running() as subscriber, subscriber.listen(name) as inbox:
        (connection_id,) = await pubsub_client_ids(each_redis) - before
        await each_redis.client_kill_filter(_id=connection_id)  # as a Redis restart would
        with pytest.raises(MissedMessages):
            await inbox.get(WAIT)
        assert subscriber.reconnects == 1
        await settled(subscriber)
        assert await numsub(each_redis, name) == 1  # subscribed again
        await each_redis.publish(name, "回来了")
        assert await inbox.get(WAIT) == "回来了"


async def test_a_late_confirmation_for_a_dropped_listener_does_not_release_the_next_one(
        each_redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listener leaves before Redis confirmed its SUBSCRIBE and another listens to the channel at once: the
    first confirmation belongs to the SUBSCRIBE that the UNSUBSCRIBE undid, so it must not tell the second that
    it is subscribed (a message published then would be lost). The reader is not started: the test hands each
    reply of Redis to the subscriber itself, in order.
    """
    name = channel()
    subscriber = Subscriber(each_redis)
    sent: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    subscribe = subscriber._pubsub.subscribe

    async def subscribe_and_tell(*channels: Any) -> None:
        await subscribe(*channels)
        sent.put_nowait(channels)

    monkeypatch.setattr(subscriber._pubsub, "subscribe", subscribe_and_tell)
    released = asyncio.Event()

    async def listener() -> None:
        async with subscriber.listen(name):
            released.set()
            await asyncio.Event().wait()  # until cancelled

    async def next_reply(kind: str) -> None:
        reply = await subscriber._pubsub.get_message(timeout=WAIT)
        assert reply is not None and reply["type"] == kind, reply
        await subscriber._dispatch(reply)

    first = asyncio.create_task(listener())
    await sent.get()
    first.cancel()  # leaves before the confirmation: the subscriber sends UNSUBSCRIBE
    await asyncio.gather(first, return_exceptions=True)
    second = asyncio.create_task(listener())
    try:
        await sent.get()
        await next_reply("subscribe")  # the first listener's, late
        with pytest.raises(TimeoutError):  # so the second listener is still waiting
            await asyncio.wait_for(released.wait(), 0.2)
        await next_reply("unsubscribe")
        await next_reply("subscribe")  # its own
        await asyncio.wait_for(released.wait(), WAIT)
        assert await numsub(each_redis, name) == 1
    finally:
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        await subscriber._pubsub.aclose()
