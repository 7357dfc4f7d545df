"""The `yichuang` command as a user runs it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pexpect
from sqlalchemy.engine import make_url

from core import __version__
from tests.backends import require_server_database
from tests.servers import YICHUANG, free_port, yichuang_env


def test_version() -> None:
    result = subprocess.run([YICHUANG, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"yichuang {__version__}"


def test_migrate_creates_the_embedded_database(tmp_path: Path) -> None:
    result = subprocess.run([YICHUANG, "migrate"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env=yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data")))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "yichuang.db").exists()
    assert "数据库结构已是最新" in result.stderr


def test_several_workers_refuse_the_embedded_storage(tmp_path: Path) -> None:
    result = subprocess.run([YICHUANG, "serve", "--workers", "2"], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env=yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data")))
    assert result.returncode == 2
    assert "YICHUANG_DATABASE_URL" in result.stderr and "YICHUANG_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr


async def test_storage_that_cannot_be_reached_stops_the_start_with_one_line(tmp_path: Path) -> None:
    """A first deployment's typical mistakes: PostgreSQL not running, a database not created yet, Redis not
    running. Each stops `serve`, `migrate` and the admin commands with one line naming the setting, exit code 2,
    no traceback.
    """
    server_database = await require_server_database()
    missing_database = str(make_url(server_database).set(database="yichuang_never_created"))
    nobody_listens = free_port()
    cases = [
        (["migrate"], {"YICHUANG_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{nobody_listens}/x"},
         "YICHUANG_DATABASE_URL"),
        (["serve", "--port", str(free_port())], {"YICHUANG_DATABASE_URL": missing_database}, "yichuang_never_created"),
        (["serve", "--port", str(free_port())], {"YICHUANG_DATABASE_URL": missing_database,
                                                 "YICHUANG_AUTO_MIGRATE": "false"}, "yichuang_never_created"),
        (["serve", "--port", str(free_port())], {"YICHUANG_REDIS_URL": f"redis://127.0.0.1:{nobody_listens}/0"},
         "YICHUANG_REDIS_URL"),
        (["staff", "list"], {"YICHUANG_DATABASE_URL": missing_database}, "yichuang_never_created"),
        (["kb", "load"], {"YICHUANG_DATABASE_URL": missing_database}, "yichuang_never_created"),
    ]
    for args, settings, named in cases:
        env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), **settings)
        result = await asyncio.to_thread(subprocess.run, [YICHUANG, *args], capture_output=True, text=True,
                                         timeout=120, cwd=tmp_path, env=env)
        errors = [line for line in result.stderr.splitlines() if line.startswith("配置错误")]
        assert result.returncode == 2, (args, settings, result.stderr)
        assert len(errors) == 1 and named in errors[0] and "cannot reach" in errors[0], result.stderr
        assert "Traceback" not in result.stderr


async def test_a_port_in_use_stops_the_start_with_one_line(tmp_path: Path) -> None:
    """Another program on the port: one line naming the setting and the address, exit code 2, no traceback,
    and the embedded Redis the start had launched stopped again.
    """
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"))
        result = await asyncio.to_thread(subprocess.run, [YICHUANG, "serve", "--port", str(port)],
                                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    errors = [line for line in result.stderr.splitlines() if line.startswith("配置错误")]
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and "YICHUANG_PORT" in errors[0] and f"127.0.0.1:{port}" in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "stopped embedded Redis" in result.stderr


def test_the_worker_pools_preload_loads_the_app_and_starts_nothing() -> None:
    """`serve --workers N` forks every worker from a fork server that imported `bot.worker_preload`. A thread
    or an open file made while importing it would be copied half-alive into each worker (a fork keeps only the
    forking thread), so the preload must make none, and it must leave jieba's dictionary loaded to be shared.
    """
    code = ("import os, threading; before = set(os.listdir('/proc/self/fd')); import bot.worker_preload; "
            "from core.text import base_dictionary; "
            "print(threading.active_count(), len(set(os.listdir('/proc/self/fd')) - before), "
            "base_dictionary.cache_info().currsize)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    threads, new_files, dictionaries = result.stdout.split()
    assert (threads, new_files, dictionaries) == ("1", "0", "1")


def test_shell_chats_with_numbered_choices(tmp_path: Path, database_url: str, redis_url: str) -> None:
    env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=database_url,
                       YICHUANG_REDIS_URL=redis_url)
    shell = pexpect.spawn(YICHUANG, ["shell"], env=env, cwd=str(tmp_path), encoding="utf-8", timeout=60)
    try:
        shell.expect("一窗：您好")
        shell.expect("回复 1 惠企政策咨询")
        shell.expect("您：")
        shell.sendline("阿巴阿巴")
        shell.expect("没太明白")
        shell.expect("您：")
        shell.sendline("谢谢")
        shell.expect("不客气")
        shell.expect("您：")
        shell.sendline("/quit")
        shell.expect("再见")
        shell.expect(pexpect.EOF)
    finally:
        shell.close()
    assert shell.exitstatus == 0
    assert "阿巴阿巴" in (tmp_path / "data" / ".shell_history").read_text()
