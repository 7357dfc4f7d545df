"""One Redis pub/sub connection per worker, shared by everything in it that listens.

Each open event stream (a citizen's chat tab, a staff console) and the knowledge base's reload listener used to
hold a pub/sub connection of its own, so a worker's Redis connections grew with its open streams and the pool
could not be bounded. Now one reader task owns the only subscriber connection: a channel is subscribed while at
least one `Inbox` listens to it, and every message on it is copied into each of its inboxes.

Pub/sub is not durable: a message published while the connection is down is gone. So when the connection is
made again (redis-py then subscribes again, whichever task reconnected it), and when a slow listener's inbox
overflows, the inbox says so by raising `MissedMessages` from `get`; each listener then catches up from where
the truth is (SQL), as it would after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("core.pubsub")

INBOX_SIZE = 1000  # messages one listener may fall behind before it is told it missed some
READ_POLL_SECONDS = 5.0  # the reader's longest wait for one message (it then checks the connection's health)
RETRY_SECONDS = 1.0  # between the reader's reconnection attempts while Redis is down


class MissedMessages(Exception):
    """Messages for this inbox may have been lost (Redis was away, or the listener fell too far behind)."""


class Inbox:
    """The messages of one channel for one listener, in the order they were published."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[str] = asyncio.Queue(INBOX_SIZE)
        self._missed = False

    def put(self, data: str) -> None:
        """Queue one message (the reader calls this); one that does not fit marks the inbox as having missed some."""
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            self._missed = True

    def mark_missed(self) -> None:
        """Tell the listener, at its next get(), that messages may have been lost."""
        self._missed = True
        # Wake a listener blocked in get(): it then raises MissedMessages.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait("")

    async def get(self, wait_seconds: float | None = None) -> str | None:
        """The next message's data, or None after `wait_seconds` without one (None: wait as long as it takes).

        Raises MissedMessages once after messages may have been lost; the following calls go on normally.
        """
        if not self._missed:
            try:
                async with asyncio.timeout(wait_seconds):
                    data = await self._queue.get()
            except TimeoutError:
                return None
        if self._missed:
            self._missed = False
            while not self._queue.empty():  # what is queued came before or around the gap: catch up instead
                self._queue.get_nowait()
            raise MissedMessages(self.channel)
        return data


class Subscriber:
    """The worker's one pub/sub connection and its reader task (see the module's docstring).

    Use `async with Subscriber(redis).running() as subscriber`, then `async with subscriber.listen(channel)`.
    """

    def __init__(self, redis: aioredis.Redis, *, subscribe_timeout: float = 5.0) -> None:
        self._pubsub = redis.pubsub()
        self._inboxes: dict[str, set[Inbox]] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}  # channel → its SUBSCRIBE, until Redis confirms it
        # SUBSCRIBEs sent per channel and not yet confirmed: a confirmation settles the newest one only when it is
        # the last outstanding (a channel dropped and listened to again at once has two in flight).
        self._unconfirmed: dict[str, int] = {}
        self._changing = asyncio.Lock()  # SUBSCRIBE and UNSUBSCRIBE go out one at a time
        self._subscribed_once = asyncio.Event()  # the reader may only read once the connection exists
        self._subscribe_timeout = subscribe_timeout
        self.reconnects = 0  # times the reader got its connection back after losing it

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Subscriber]:
        """Run the reader for the duration of the block; close the connection after it."""
        reader = asyncio.create_task(self._read(), name="pubsub-reader")
        try:
            yield self
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self._pubsub.aclose()

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[Inbox]:
        """An inbox for `channel`'s messages for the duration of the block.

        Returns once Redis confirmed the subscription, so a message published after that reaches the inbox.
        Raises RedisError when Redis cannot be reached (the caller answers 503).
        """
        inbox = Inbox(channel)
        async with self._changing:
            listeners = self._inboxes.setdefault(channel, set())
            listeners.add(inbox)
            confirmed = self._confirmed.get(channel)
            if len(listeners) == 1:
                confirmed = asyncio.get_running_loop().create_future()
                self._confirmed[channel] = confirmed
                self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException:
                    # Perhaps never sent: count it out, or the channel's next listener would wait for nothing.
                    self._count_confirmation(channel)
                    self._forget(channel, inbox)
                    raise
                if not self._subscribed_once.is_set():
                    # Every later connect of this connection is a reconnect (see _reconnected).
                    assert self._pubsub.connection is not None
                    self._pubsub.connection.register_connect_callback(self._reconnected)
                    self._subscribed_once.set()
        try:
            if confirmed is not None:
                await self._confirm(confirmed)
            yield inbox
        finally:
            async with self._changing:
                if self._forget(channel, inbox):
                    # Redis may be away: the reader then subscribes again on reconnect and drops the channel
                    # when its first message finds nobody listening.
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.unsubscribe(channel)

    def listeners(self, channel: str) -> int:
        """How many inboxes listen to `channel` in this worker."""
        return len(self._inboxes.get(channel, ()))

    async def _confirm(self, confirmed: asyncio.Future[None]) -> None:
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                await asyncio.shield(confirmed)
        except TimeoutError:
            raise RedisTimeoutError("Redis did not confirm a subscription") from None

    def _forget(self, channel: str, inbox: Inbox) -> bool:
        """Remove `inbox`; True when it was the channel's last one."""
        listeners = self._inboxes.get(channel)
        if listeners is None:
            return False
        listeners.discard(inbox)
        if listeners:
            return False
        del self._inboxes[channel]
        confirmed = self._confirmed.pop(channel, None)
        if confirmed is not None and not confirmed.done():
            confirmed.cancel()
        return True

    def _count_confirmation(self, channel: str) -> bool:
        """Count one SUBSCRIBE of `channel` as confirmed; True when none is left outstanding."""
        outstanding = self._unconfirmed.pop(channel, 0) - 1
        if outstanding > 0:
            self._unconfirmed[channel] = outstanding
            return False
        return True

    async def _reconnected(self, connection: object) -> None:
        """The connection was made again: redis-py has subscribed again, but what was published meanwhile is
        gone, so every listener must catch up.
        """
        self.reconnects += 1
        log.info("pub/sub connection to Redis made again; listeners catch up")
        # What was in flight on the old connection is gone; each channel still waiting is subscribed once now.
        self._unconfirmed = {channel: 1 for channel in self._confirmed}
        for listeners in self._inboxes.values():
            for inbox in listeners:
                inbox.mark_missed()

    async def _read(self) -> None:
        await self._subscribed_once.wait()
        lost = False
        while True:
            try:
                message = await self._pubsub.get_message(timeout=READ_POLL_SECONDS)
            except (RedisError, OSError) as exc:
                if not lost:
                    log.warning("pub/sub connection to Redis lost (%s); reconnecting", type(exc).__name__)
                lost = True
                await asyncio.sleep(RETRY_SECONDS)
                continue
            lost = False
            if message is not None:
                await self._dispatch(message)

    async def _dispatch(self, message: dict[str, object]) -> None:
        kind, channel, data = message.get("type"), str(message.get("channel")), message.get("data")
        if kind == "subscribe":
            if self._count_confirmation(channel):
                confirmed = self._confirmed.pop(channel, None)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
        elif kind == "message":
            listeners = self._inboxes.get(channel)
            if listeners:
                for inbox in listeners:
                    inbox.put(str(data))
            elif channel not in self._confirmed:
                # Subscribed again on a reconnect after its last listener left while Redis was away.
                async with self._changing:
                    if channel not in self._inboxes:
                        with contextlib.suppress(RedisError, OSError):
                            await self._pubsub.unsubscribe(channel)
