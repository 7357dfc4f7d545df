"""Several server processes against PostgreSQL and Redis behave as one service."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.backends import require_server_database, require_server_redis
from tests.servers import ServerProcess, free_port, yichuang_env


async def test_workers_share_the_port_and_the_sessions(tmp_path: Path) -> None:
    env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=await require_server_database(),
                       YICHUANG_REDIS_URL=require_server_redis())
    port_a, port_b = free_port(), free_port()
    pool = ServerProcess(["serve", "--workers", "2", "--port", str(port_a)], env, tmp_path, ready_lines=2)
    single = ServerProcess(["serve", "--port", str(port_b)], env, tmp_path)
    pool.start()
    try:
        single.start()
        a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        # A new connection per request, so the kernel spreads them over the pool's workers.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            pids = set()
            for _ in range(40):
                async with http.get(f"{a}/healthz") as resp:
                    pids.add((await resp.json())["worker"])
            assert len(pids) == 2, "both workers of the pool must answer on the shared port"
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
