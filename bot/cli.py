"""The `yichuang` command: serve, shell, migrate, --version."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from rich.console import Console

from bot import cli_kb, cli_nlu, cli_staff, cli_wechat
from core import __version__
from core.errors import ConfigError, YichuangError
from core.heap import freeze_startup_heap
from core.logging import setup_logging
from core.settings import Settings, load_settings

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("bot.cli")
console = Console(stderr=True)
# A pool replaces a dead worker, unless this many died within the window (a crash loop: a bad setting).
RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 60.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yichuang", description="一窗 政务服务智能助手")
    parser.add_argument("--version", action="version", version=f"yichuang {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="address to listen on (default: YICHUANG_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: YICHUANG_PORT or 8080)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
    commands.add_parser("shell", help="chat with the assistant in this terminal")
    commands.add_parser("migrate", help="upgrade the database schema to the newest version")
    cli_kb.add_parser(commands)
    cli_nlu.add_parser(commands)
    cli_staff.add_parser(commands)
    cli_wechat.add_parser(commands)
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "workers"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(**overrides)


async def _migrate(settings: Settings) -> None:
    from bot.migrate import migrate
    from core.db import open_engine

    async with open_engine(settings) as engine:
        await migrate(engine)


def _migrate_with_progress(settings: Settings) -> None:
    with console.status("正在升级数据库结构…"):
        asyncio.run(_migrate(settings))
    console.print("数据库结构已是最新。")


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (not on Windows): the same asyncio API, less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _serve_one(settings: Settings, *, reuse_port: bool = False, pool_worker: bool = False) -> None:
    from aiohttp import web

    from bot.app import create_app

    app = create_app(settings)
    # A pool worker ignores SIGINT (see `_worker_main`): only the pool stops it, with SIGTERM.
    stop = _StopSignals((signal.SIGTERM,) if pool_worker else (signal.SIGTERM, signal.SIGINT))
    app.on_startup.insert(0, stop.install)
    app.on_startup.append(stop.started)
    app.on_startup.append(freeze_startup_heap)  # after everything that lives as long as the server is loaded
    loop = _event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_run(app, settings, reuse_port=reuse_port))
    try:
        loop.run_until_complete(main)
    except web.GracefulExit:  # a stop signal (`_StopSignals`)
        pass
    finally:
        if not main.done():  # stopped: the cancellation runs `_run`'s cleanup
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        _cancel_remaining_tasks(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


async def _run(app: web.Application, settings: Settings, *, reuse_port: bool) -> None:
    """Start the app, serve until cancelled, clean up. What aiohttp's `run_app` does, but a start-up that fails
    half-way is cleaned up too: `run_app` starts the app outside its try/finally, so the contexts entered before
    the failing one (the database's engine, the embedded Redis server) were left to `shutdown_asyncgens`, which
    closes nested ones in no order and logged `athrow()` tracebacks, or never stopped the embedded Redis.
    """
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=75, shutdown_timeout=60)
    try:
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port).start()
        except OSError as exc:  # the port taken by another program, an address this host does not have
            raise ConfigError(f"YICHUANG_HOST / YICHUANG_PORT: cannot listen on {settings.host}:{settings.port} "
                              f"({exc.strerror or exc})") from None
        console.print(f"一窗已启动：http://{settings.host}:{settings.port}/  （Ctrl+C 停止）")
        await asyncio.Event().wait()  # until a stop signal cancels this task
    finally:
        await runner.cleanup()  # after a failed start, exits only the contexts that were entered, last first


def _cancel_remaining_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and wait for the tasks still pending once the app has stopped, as `asyncio.run` does."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


class _StopSignals:
    """Stop signals end the server gracefully, once, and never in the middle of its start-up.

    aiohttp's own handlers raise GracefulExit whenever a signal comes. During start-up that broke off the
    app's contexts half-entered, outside the code that cleans them up: the server logged tracebacks, or, when
    the interrupted step swallowed the cancellation, went on starting and served as if never told to stop
    (issue 9). Here a signal during start-up is remembered and acted on as soon as start-up is over. Any
    signal after the first is ignored, so the pool's SIGTERM and a service manager's, both sent to a
    worker, cannot break off a shutdown half-way. Before the first on_startup (imports, `create_app`), the
    default actions apply: nothing has been started that needs stopping.
    """

    def __init__(self, signals: tuple[signal.Signals, ...]) -> None:
        self._signals = signals
        self._requested = False
        self._running = False

    async def install(self, _app: Any) -> None:
        """First on_startup: take the signals over on the running loop. A pool's worker also stops, as on
        SIGTERM, when the pool is gone (killed with SIGKILL, which it cannot pass on): its sentinel, a pipe the
        pool holds open, then reads as closed. Without this the workers went on serving as orphans.
        """
        loop = asyncio.get_running_loop()
        try:
            for signum in self._signals:
                loop.add_signal_handler(signum, self._signalled)
            parent = multiprocessing.parent_process()
            if parent is not None and parent.sentinel is not None:
                loop.add_reader(parent.sentinel, self._pool_gone, parent.sentinel)
        except NotImplementedError:  # pragma: no cover - Windows' loop has neither: Ctrl+C stays a KeyboardInterrupt
            return

    async def started(self, _app: Any) -> None:
        """Last on_startup: from here a signal stops the server at once; one that came earlier does now."""
        self._running = True
        if self._requested:
            # From a callback, as a signal handler would: the loop's next step raises it out of the loop, and
            # cancelling `_run` then stops the server the same way as a later signal.
            asyncio.get_running_loop().call_soon(self._exit)

    def _pool_gone(self, sentinel: int) -> None:
        asyncio.get_running_loop().remove_reader(sentinel)  # it stays readable: once is enough
        self._signalled()

    def _signalled(self) -> None:
        if self._requested:
            return
        self._requested = True
        if self._running:
            self._exit()

    @staticmethod
    def _exit() -> None:
        from aiohttp import web

        raise web.GracefulExit()


def _exit_on_config_error(exc: ConfigError) -> NoReturn:
    """End the process as every command does on a configuration error: one line, never wrapped, exit code 2."""
    print(f"配置错误 {exc.message}", file=sys.stderr)
    sys.exit(2)


def _worker_main(settings_data: dict[str, Any]) -> None:
    """Entry point of one worker process, forked from the pool's fork server (see `_worker_context`)."""
    # Only the pool stops a worker, with one SIGTERM. Ctrl+C in a terminal signals the pool's whole process
    # group; a worker that took that SIGINT too was stopped twice, and the second signal, landing in the middle
    # of its shutdown, ended it with exit code 1 ("workers stopped with an error").
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Forked with SIGTERM blocked (see `bot.worker_preload`). Unblocked with its default action, one sent since
    # the fork ends the worker now, before it has started anything; from the app's start `_StopSignals` has it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # pragma: no branch - absent on Windows, where nothing blocked it
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    settings = Settings(**settings_data)
    setup_logging(settings.log_level, settings.log_json)
    try:
        _serve_one(settings, reuse_port=True, pool_worker=True)
    except ConfigError as exc:  # the pool stops if every start fails so
        _exit_on_config_error(exc)


def _worker_context() -> multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext:
    """How the pool starts workers: forked from a fork server that imported the app once (`bot.worker_preload`),
    so neither the first workers nor a replacement for a dead one import it again. The fork server is a clean
    process started before any event loop, thread or connection exists; forking the pool's own process would
    copy whatever it holds. Where there is no fork server (Windows), each worker is spawned and imports afresh.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["bot.worker_preload"])
    multiprocessing.forkserver.ensure_running()  # starts its imports now; they overlap the schema check
    return context


def _serve_many(settings: Settings) -> None:
    """Run `settings.workers` worker processes on one port and keep that many running: a worker that dies
    (killed, out of memory) is replaced. A pool whose workers keep dying at once stops with an error rather
    than restarting them forever.
    """
    from core.secrets import resolve_secret

    if settings.embedded_database or settings.embedded_redis:
        raise ConfigError("--workers > 1 needs YICHUANG_DATABASE_URL and YICHUANG_REDIS_URL: the embedded "
                          "SQLite and Redis serve a single process")
    context = _worker_context()
    _migrate_with_progress(settings)
    # Decided once here so every worker signs and checks tokens with the same key.
    shared = settings.model_copy(update={"secret_key": resolve_secret(settings), "auto_migrate": False})

    def spawn(number: int) -> multiprocessing.process.BaseProcess:
        worker = context.Process(target=_worker_main, args=(shared.model_dump(),), name=f"yichuang-worker-{number}")
        worker.start()
        return worker

    workers: dict[int, multiprocessing.process.BaseProcess] = {}
    stopping = False

    def _stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers.values():
            if worker.is_alive():
                worker.terminate()

    def start(number: int) -> None:
        workers[number] = spawn(number)
        if stopping:  # a stop signal came while it was being started, when `_stop` could not see it yet
            workers[number].terminate()

    # Before the first worker starts: a stop signal from here on stops every worker there is.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for number in range(settings.workers):
        if not stopping:
            start(number)
    if not stopping:
        console.print(f"一窗已启动 {len(workers)} 个进程：http://{settings.host}:{settings.port}/  （Ctrl+C 停止）")
    restarts: deque[float] = deque(maxlen=RESTART_LIMIT)
    crash_loop = False
    failed: list[str] = []
    while True:
        alive = {worker.sentinel: number for number, worker in workers.items() if worker.exitcode is None}
        if not alive:
            break
        for sentinel in multiprocessing.connection.wait(list(alive)):
            number = alive[sentinel]  # type: ignore[index]
            dead = workers[number]
            dead.join()
            if stopping:
                if dead.exitcode not in (0, -signal.SIGTERM):
                    failed.append(f"{dead.name} (exit code {dead.exitcode})")
                continue
            restarts.append(time.monotonic())
            if len(restarts) == RESTART_LIMIT and restarts[-1] - restarts[0] < RESTART_WINDOW_SECONDS:
                log.error("workers died %s times in %s s; stopping", RESTART_LIMIT, RESTART_WINDOW_SECONDS)
                crash_loop = True
                _stop(signal.SIGTERM, None)
                continue
            log.error("%s (pid %s) exited with code %s; starting a new one", dead.name, dead.pid, dead.exitcode)
            start(number)
    if crash_loop:
        raise SystemExit("workers kept dying right after start; see the log above")
    if failed:
        raise SystemExit(f"workers stopped with an error: {', '.join(failed)}")


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the chosen command; configuration errors print one line."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings_from(args)
        setup_logging(settings.log_level, settings.log_json)
        if args.command == "migrate":
            _migrate_with_progress(settings)
        elif args.command == "kb":
            asyncio.run(cli_kb.run(settings, args))
        elif args.command == "nlu":
            asyncio.run(cli_nlu.run(settings, args))
        elif args.command == "staff":
            asyncio.run(cli_staff.run(settings, args))
        elif args.command == "wechat":
            asyncio.run(cli_wechat.run(settings, args))
        elif args.command == "shell":
            from channels.shell import run_shell

            asyncio.run(run_shell(settings))
        elif args.command == "serve":
            if settings.workers > 1:
                _serve_many(settings)
            else:
                if settings.auto_migrate:
                    _migrate_with_progress(settings)
                _serve_one(settings.model_copy(update={"auto_migrate": False}))
    except ConfigError as exc:
        _exit_on_config_error(exc)
    except YichuangError as exc:
        print(f"错误 {exc.message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # Ctrl+C before the command took it over (imports, migrations): no traceback
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
