"""The KB service: seeding, hot reload on every worker, and a clean shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bot.app import create_app
from bot.typedefs import KB
from core.settings import Settings
from policy_kb.content import KbContent
from policy_kb.loader import load_yaml_dir
from policy_kb.schema import ServiceItem


async def test_app_that_stops_right_after_starting_shuts_down(settings: Settings) -> None:
    # Regression: a cancel that reached the reload listener during subscribe() was swallowed and hung shutdown.
    for _ in range(3):
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        async with asyncio.timeout(10):
            await runner.cleanup()


async def test_a_reload_reaches_every_worker(aiohttp_client: Any, settings: Settings) -> None:
    worker_a = await aiohttp_client(create_app(settings))
    worker_b = await aiohttp_client(create_app(settings))
    kb_a, kb_b = worker_a.app[KB], worker_b.app[KB]
    assert "NEW-0001" not in kb_b.current.items
    assert not await _items_named(worker_b, "办狗证")  # parsed (and kept: a short message) before the reload
    new = ServiceItem(code="NEW-0001", name="犬只登记", aliases=("办狗证", "养狗登记"), window="综合")
    await kb_a.store.upsert(KbContent(items=[new]), "import:test")
    generation = kb_b.generation
    assert await kb_a.announce_reload() >= 2
    async with asyncio.timeout(10):
        await kb_b.wait_for_generation(generation + 1)
    assert kb_b.current.items["NEW-0001"].name == "犬只登记"
    resp = await worker_b.get("/api/v1/kb/items?q=办狗证")
    assert (await resp.json())["items"][0]["code"] == "NEW-0001"
    assert await _items_named(worker_b, "办狗证") == ["犬只登记"]  # the NLU knows the new item at once


async def _items_named(client: Any, text: str) -> list[str]:
    resp = await client.post("/api/v1/nlu/parse", json={"text": text})
    return [e["value"] for e in (await resp.json())["entities"] if e["entity"] == "item"]


async def test_reloading_the_seed_drops_records_deleted_from_it(
    aiohttp_client: Any, settings: Settings, tmp_path: Any
) -> None:
    import shutil

    from policy_kb.loader import DATA_DIR
    from policy_kb.service import KbService

    client = await aiohttp_client(create_app(settings))
    service = client.app[KB]
    seed = tmp_path / "seed"
    shutil.copytree(DATA_DIR, seed)
    general = seed / "items" / "general.yml"
    text = general.read_text(encoding="utf-8")
    start = text.index('  - code: "ZH-0006"')
    end = text.index('  - code: "ZH-0007"')
    general.write_text(text[:start] + text[end:], encoding="utf-8")
    report = await KbService(service._store._db, service._redis, seed).load_seed()
    assert report.removed >= 1
    await service.rebuild()
    assert "ZH-0006" not in service.current.items and "ZH-0007" in service.current.items


async def test_workers_starting_together_seed_the_kb_once(settings: Settings) -> None:
    # Regression: two workers on an empty database both seeded and one died on the primary key.
    import redis.asyncio as aioredis

    from core.db import create_engine, session_factory
    from policy_kb.service import KbService

    engine = create_engine(settings)
    client = aioredis.Redis.from_url(str(settings.redis_url), decode_responses=True)
    try:
        services = [KbService(session_factory(engine), client) for _ in range(3)]
        await asyncio.gather(*(s.start() for s in services))
        seeded = len(load_yaml_dir().items)
        assert all(len(s.current.items) == seeded for s in services)
        assert await services[0].store.count_items() == seeded
    finally:
        await client.aclose()
        await engine.dispose()
