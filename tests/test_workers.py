"""Several server processes against PostgreSQL and Redis behave as one service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from datetime import datetime
from pathlib import Path

import aiohttp
import psutil
import pytest
import redis

from bot import cli
from core.clock import SHANGHAI
from core.keys import Prefix, key
from core.settings import Settings
from tests.backends import require_server_database, require_server_redis
from tests.servers import YICHUANG, ServerProcess, free_port, worker_pids, yichuang_env


async def test_workers_share_the_port_and_the_sessions(tmp_path: Path) -> None:
    env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=await require_server_database(),
                       YICHUANG_REDIS_URL=require_server_redis())
    # A leader lock left by a process killed in an earlier run would delay the election checked below.
    redis.Redis.from_url(env["YICHUANG_REDIS_URL"]).delete(key(Prefix.SLA_LEADER))
    port_a, port_b = free_port(), free_port()
    pool = ServerProcess(["serve", "--workers", "2", "--port", str(port_a)], env, tmp_path, ready_lines=2)
    single = ServerProcess(["serve", "--port", str(port_b)], env, tmp_path)
    pool.start()
    try:
        single.start()
        a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        # A new connection per request, so the kernel spreads them over the pool's workers.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            pids = await worker_pids(http, a)
            assert len(pids) == 2, "both workers of the pool must answer on the shared port"
            # Forked from the fork server that loaded the app once, not each importing it anew.
            parents = {" ".join(psutil.Process(pid).parent().cmdline()) for pid in pids}
            assert len(parents) == 1 and "multiprocessing.forkserver" in parents.pop()
            # Three processes, one SLA monitor sweeping: never more than one holds the leader lock, and
            # once the first rounds have run (right after start-up) exactly one does.
            leaders: dict[int, bool] = {}
            for _ in range(20):
                for url in [a] * 20 + [b]:
                    async with http.get(f"{url}/healthz") as resp:
                        health = await resp.json()
                    leaders[health["worker"]] = health["sla_leader"]
                    assert sum(leaders.values()) <= 1, leaders
                if len(leaders) == 3 and sum(leaders.values()) == 1:
                    break
            assert len(leaders) == 3 and sum(leaders.values()) == 1, leaders

            async with http.post(f"{a}/api/v1/sessions") as resp:
                auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
            async with http.post(f"{a}/api/v1/messages", json={"text": "阿巴阿巴"}, headers=auth) as resp:
                first = await resp.json()
            async with http.post(f"{b}/api/v1/messages", json={"text": "嗯嗯嗯"}, headers=auth) as resp:
                second = await resp.json()
            assert first["replies"][0]["buttons"] == []
            # Only a session shared through Redis knows this is the second miss in a row.
            assert second["replies"][0]["buttons"], second
            # The same retried message on the other process is answered from the first run.
            body = {"text": "阿巴阿巴", "msg_id": "cross-worker-retry"}
            async with http.post(f"{a}/api/v1/messages", json=body, headers=auth) as resp:
                once = await resp.json()
            async with http.post(f"{b}/api/v1/messages", json=body, headers=auth) as resp:
                assert await resp.json() == once
    finally:
        codes = single.stop(), pool.stop()
    assert codes == (0, 0), pool.output + single.output
    assert "Traceback" not in pool.output + single.output


async def test_ctrl_c_stops_the_pool_and_every_worker_cleanly(tmp_path: Path) -> None:
    """A terminal's Ctrl+C signals the whole foreground process group. The pool then stops each worker once; a
    worker that took the terminal's SIGINT as well was stopped twice and exited with an error.
    """
    env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=await require_server_database(),
                       YICHUANG_REDIS_URL=require_server_redis(), YICHUANG_SLA_ENABLED="false")
    pool = ServerProcess(["serve", "--workers", "2", "--port", str(free_port())], env, tmp_path, ready_lines=2,
                         own_session=True)
    pool.start()
    assert pool.proc is not None
    family = psutil.Process(pool.proc.pid).children(recursive=True)  # the fork server and the two workers
    code = pool.interrupt()
    _gone, alive = psutil.wait_procs(family, timeout=30)
    assert code == 0 and "error" not in pool.output, pool.output
    assert alive == [], "every process of the pool ends with it"
    assert "Traceback" not in pool.output


async def test_a_worker_stopped_twice_still_stops_cleanly(tmp_path: Path) -> None:
    """The pool and a service manager (systemd signals every process of the service) may both send a worker
    SIGTERM. The second one, arriving while the worker shuts down, must not break the shutdown off (that ended
    the worker with exit code 1, the same race as a terminal's Ctrl+C above, only reliably so).
    """
    env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=await require_server_database(),
                       YICHUANG_REDIS_URL=require_server_redis(), YICHUANG_SLA_ENABLED="false")
    port = free_port()
    pool = ServerProcess(["serve", "--workers", "2", "--port", str(port)], env, tmp_path, ready_lines=2)
    pool.start()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            pids = await worker_pids(http, f"http://127.0.0.1:{port}")
        assert len(pids) == 2, pids
        victim = psutil.Process(min(pids))
        victim.send_signal(signal.SIGTERM)
        victim.send_signal(signal.SIGTERM)
        victim.wait(timeout=30)
        # The pool replaces a worker it did not stop, and says how the old one ended.
        pool.wait_for_output("; starting a new one", timeout=30)
    finally:
        code = pool.stop()
    assert f"(pid {victim.pid}) exited with code 0;" in pool.output, pool.output
    assert code == 0 and "Traceback" not in pool.output, pool.output


async def test_a_worker_stopped_the_moment_it_is_forked_ends_at_once(tmp_path: Path) -> None:
    """The pool stops a worker it has only just started when its own stop signal comes while it replaces a dead
    one. The signal lands before the new worker has finished its after-fork work; a Python handler in the fork
    server then lost about half of such signals (CPython drops them), and the pool waited forever for a worker
    that went on to serve. Forked with SIGTERM blocked, the worker ends as soon as it unblocks it.
    """
    settings = Settings(data_dir=tmp_path / "data", database_url=await require_server_database(),
                        redis_url=require_server_redis(), sla_enabled=False, port=free_port(), auto_migrate=False)
    context = cli._worker_context()
    for attempt in range(20):
        worker = context.Process(target=cli._worker_main, args=(settings.model_dump(),))
        worker.start()
        worker.terminate()
        worker.join(timeout=20)
        if worker.exitcode is None:  # it missed the signal and started; stop it before failing
            worker.terminate()
            worker.join(timeout=30)
            raise AssertionError(f"attempt {attempt + 1}: a worker stopped right after its fork went on to start")
        assert worker.exitcode == -signal.SIGTERM, worker.exitcode


async def test_workers_of_a_pool_killed_outright_stop_instead_of_serving_on(tmp_path: Path) -> None:
    """SIGKILL to the pool alone (the OOM killer, `kill -9` by hand): it cannot stop its workers, which went on
    serving as orphans, holding the port. Each worker notices its pool is gone and stops gracefully.
    """
    env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=await require_server_database(),
                       YICHUANG_REDIS_URL=require_server_redis(), YICHUANG_SLA_ENABLED="false")
    pool = ServerProcess(["serve", "--workers", "2", "--port", str(free_port())], env, tmp_path, ready_lines=2)
    pool.start()
    assert pool.proc is not None
    family = psutil.Process(pool.proc.pid).children(recursive=True)
    workers = [p for p in family if "forkserver" in " ".join(p.cmdline()) and p.ppid() != pool.proc.pid]
    assert len(workers) == 2, family
    try:
        pool.proc.kill()
        _gone, alive = psutil.wait_procs(workers, timeout=30)
        assert alive == [], "a worker went on serving after its pool was killed"
    finally:
        pool.stop(signum=None)
        for process in family:  # the fork server, should it outlive the pool
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
    assert "Traceback" not in pool.output, pool.output


async def test_a_service_manager_stopping_every_process_at_once_stops_the_pool_cleanly(tmp_path: Path) -> None:
    """systemd (KillMode=control-group) and `timeout` send SIGTERM to every process of the service at once, the
    pool's fork server too. A fork server that died of it left the pool unable to learn how its workers ended:
    "workers stopped with an error: … exit code 255", exit code 1, and the service marked failed. Once while
    the workers are still starting, once when they serve.
    """
    env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=await require_server_database(),
                       YICHUANG_REDIS_URL=require_server_redis(), YICHUANG_SLA_ENABLED="false")
    for ready_lines, wait_for in ((0, "一窗已启动 2 个进程"), (2, None)):
        pool = ServerProcess(["serve", "--workers", "2", "--port", str(free_port())], env, tmp_path,
                             ready_lines=ready_lines, own_session=True)
        pool.start()
        if wait_for is not None:
            pool.wait_for_output(wait_for, timeout=60)
        assert pool.proc is not None
        family = psutil.Process(pool.proc.pid).children(recursive=True)
        os.killpg(pool.proc.pid, signal.SIGTERM)
        code = pool.stop(signum=None)
        _gone, alive = psutil.wait_procs(family, timeout=30)
        assert code == 0 and "error" not in pool.output and "Traceback" not in pool.output, pool.output
        assert alive == [], "every process of the pool ends with it"


@pytest.mark.parametrize("ctrl_c", [False, True], ids=["SIGTERM", "Ctrl+C"])
async def test_a_stop_signal_during_start_up_stops_the_server_once_started(tmp_path: Path, ctrl_c: bool) -> None:
    """SIGTERM, or Ctrl+C in the terminal, while the server is still starting (here: its embedded Redis just
    started, the KB not yet loaded). aiohttp broke start-up off half-way: tracebacks in the log, or, when the
    step it interrupted swallowed the cancellation, a server that went on to serve as if never told to stop.
    Now it finishes starting, then stops as it would have once started, its embedded Redis with it. Ctrl+C
    reaches the embedded Redis and the NLU's training child too (the terminal signals the whole process group).
    """
    data_dir = tmp_path / "data"
    env = yichuang_env(YICHUANG_DATA_DIR=str(data_dir), YICHUANG_SLA_ENABLED="false")
    server = ServerProcess(["serve", "--port", str(free_port())], env, tmp_path, ready_lines=0, own_session=ctrl_c)
    server.start()
    server.wait_for_output("started embedded Redis", timeout=60)
    embedded = [p for p in psutil.process_iter(["name", "cmdline"]) if "redis-server" in (p.info["name"] or "")
                and str(data_dir) in " ".join(p.info["cmdline"] or [])]
    assert len(embedded) == 1
    code = server.interrupt() if ctrl_c else server.stop()
    assert code == 0 and "Traceback" not in server.output, server.output
    assert "stopped embedded Redis" in server.output
    # A first start: the NLU's training child heard the signal too, and left stopping to the server.
    assert "NLU model trained" in server.output and "failed" not in server.output, server.output
    embedded[0].wait(timeout=30)  # raises if it outlived the server


async def test_a_ticket_opened_on_one_process_appears_live_on_a_console_of_another(tmp_path: Path) -> None:
    today = datetime.now(SHANGHAI).date()
    holidays = tmp_path / "holidays.yml"
    holidays.write_text(f"{today.year}:\n  workdays: [{today.isoformat()}]\n", encoding="utf-8")  # open today
    env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=await require_server_database(),
                       YICHUANG_REDIS_URL=require_server_redis(), YICHUANG_HOLIDAYS_FILE=str(holidays),
                       YICHUANG_OFFICE_OPENS="00:00", YICHUANG_OFFICE_LUNCH_STARTS="12:00",
                       YICHUANG_OFFICE_LUNCH_ENDS="12:00", YICHUANG_OFFICE_CLOSES="23:59:59")
    add = await asyncio.to_thread(
        subprocess.run, [str(YICHUANG), "staff", "add", "console2", "--role", "supervisor", "--password-stdin"],
        input="long enough password\n", env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert add.returncode == 0 or "已存在" in add.stderr, add.stderr
    port_a, port_b = free_port(), free_port()
    chat, console = (ServerProcess(["serve", "--port", str(port)], env, tmp_path) for port in (port_a, port_b))
    chat.start()
    try:
        console.start()
        a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(f"{b}/api/v1/agent/login",
                                 json={"username": "console2", "password": "long enough password"}) as resp:
                assert resp.status == 200, await resp.text()
            async with http.get(f"{b}/api/v1/agent/events") as stream:
                async with http.post(f"{a}/api/v1/sessions") as resp:
                    auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
                async with http.post(f"{a}/api/v1/messages", json={"text": "转人工"}, headers=auth) as resp:
                    assert (await resp.json())["flow"] == "handoff"
                event: dict[str, object] = {}
                async with asyncio.timeout(30):  # the whole wait, however many pings and other events come first
                    while event.get("type") != "ticket":
                        raw = await stream.content.readline()
                        assert raw, "the console's event stream ended before the ticket event"
                        line = raw.decode()
                        if line.startswith("data: ") and line[6:].strip():
                            event = json.loads(line[6:])
                assert (event["kind"], event["status"]) == ("opened", "waiting")
    finally:
        codes = console.stop(), chat.stop()
    assert codes == (0, 0), chat.output + console.output
