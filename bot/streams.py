"""Server-sent event streams that end with the app.

aiohttp's shutdown waits for (then cancels) the requests of connections still open. A stream whose reader has
gone is no longer one of them, yet its handler runs on until its next write fails, up to a ping interval
later: after the app's cleanup it would query a disposed database engine and leave that connection unclosed.
So every stream is registered here, and shutdown ends each one at its next idle wait (never in the middle of
a database call, where a cancellation would throw the connection away) before the cleanup runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

T = TypeVar("T")
SHUTDOWN_GRACE_SECONDS = 5.0  # a stream busy longer than this at shutdown is cancelled after all


class LiveStreams:
    """The app's open event streams, and the signal that ends them at shutdown."""

    def __init__(self) -> None:
        self._closing = asyncio.Event()
        # Each open stream: a future done when it has ended, and the task running its handler.
        self._open: dict[asyncio.Future[None], asyncio.Task[object]] = {}

    @property
    def closing(self) -> bool:
        """Whether the app is shutting down: a stream's loop ends when this is true."""
        return self._closing.is_set()

    @contextlib.asynccontextmanager
    async def open(self, request: web.Request) -> AsyncIterator[EventSourceResponse]:
        """`aiohttp_sse.sse_response`, registered until it ends."""
        handler = asyncio.current_task()
        assert handler is not None, "a request handler runs in a task"
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._open[ended] = handler
        try:
            async with sse_response(request) as stream:
                yield stream
        finally:
            del self._open[ended]
            ended.set_result(None)

    async def idle(self, waiting: Awaitable[T]) -> T | None:
        """What `waiting` gives, or None as soon as the app starts shutting down (`waiting` is then cancelled)."""
        result = asyncio.ensure_future(waiting)
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({result, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not result.done():
                result.cancel()
        await asyncio.gather(closing, result, return_exceptions=True)
        return result.result() if not result.cancelled() else None

    async def close(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Tell every stream to end, wait for them, and cancel any still busy after `grace_seconds`."""
        self._closing.set()
        streams = dict(self._open)
        if not streams:
            return
        _, busy = await asyncio.wait(streams, timeout=grace_seconds)
        if busy:
            for ended in busy:
                streams[ended].cancel()
            await asyncio.wait(busy, timeout=grace_seconds)


LIVE_STREAMS = web.AppKey("live_streams", LiveStreams)


async def _close_streams(app: web.Application) -> None:
    await app[LIVE_STREAMS].close()


def setup(app: web.Application) -> None:
    """Keep the app's streams, to end them when it shuts down (before its cleanup)."""
    app[LIVE_STREAMS] = LiveStreams()
    app.on_shutdown.append(_close_streams)
