"""With no YICHUANG_REDIS_URL the app starts a real Redis under data/ and stops it on exit."""

from __future__ import annotations

from pathlib import Path

import psutil
import redis
from aiohttp import web

from bot.app import create_app
from bot.typedefs import REDIS
from core.redis import EmbeddedRedis
from core.settings import Settings


async def test_app_starts_and_stops_an_embedded_redis(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, database_url=database_url, redis_url=None, auto_migrate=False,
                        _env_file=None)  # type: ignore[call-arg]
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    try:
        socket = data / "redis.socket"
        assert socket.exists()
        await runner.app[REDIS].set("survives", "restart")
        pid = int((await runner.app[REDIS].info("server"))["process_id"])
        assert psutil.pid_exists(pid)
    finally:
        await runner.cleanup()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (data / "redis.rdb").exists(), "the dump is saved under data/ on exit"
    # The next start loads the dump: nothing kept in Redis is lost across a clean restart.
    again = EmbeddedRedis(data)
    again.start()
    try:
        assert redis.Redis(unix_socket_path=str(again.socket_path)).get("survives") == b"restart"
    finally:
        again.stop()


def test_a_second_process_reuses_the_running_embedded_redis(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    first.start()
    try:
        second = EmbeddedRedis(tmp_path)
        second.start()  # e.g. `yichuang shell` while `yichuang serve` runs
        client = redis.Redis(unix_socket_path=str(second.socket_path))
        client.set("k", "v")
        second.stop()  # not the owner: leaves the server running
        assert client.get("k") == b"v"
        client.close()
    finally:
        first.stop()
    assert not (tmp_path / "redis.socket").exists() or not _answers(tmp_path / "redis.socket")


def _answers(socket: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket), socket_timeout=1).ping())
    except redis.RedisError:
        return False
