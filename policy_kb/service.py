"""The KB as a running service: seeded from YAML on first start, rebuilt from SQL, hot-reloaded on every
worker when any of them publishes `kb reloaded` on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import redis.asyncio as aioredis

from core.db import SessionFactory
from core.keys import Prefix, key
from core.pubsub import Inbox, MissedMessages, Subscriber
from policy_kb.kb import KnowledgeBase
from policy_kb.loader import DATA_DIR, YAML_ORIGIN_PREFIX, load_vocabulary, load_yaml_dir
from policy_kb.store import KbStore, WriteReport

log = logging.getLogger("policy_kb.service")
RELOAD_CHANNEL = key(Prefix.KB_EVENTS)


class KbService:
    """Holds the current KnowledgeBase snapshot; `current` always returns a complete one."""

    def __init__(self, db: SessionFactory, redis: aioredis.Redis, data_dir: Path = DATA_DIR,
                 cache_dir: Path | None = None) -> None:
        self._store = KbStore(db)
        self._redis = redis
        self._data_dir = data_dir
        self._cache_dir = cache_dir  # where built search indexes are kept between starts (None: nowhere)
        self._kb: KnowledgeBase | None = None
        self._lock = asyncio.Lock()
        self._rebuilt = asyncio.Condition()
        self.generation = 0  # how many snapshots this process has built

    @property
    def current(self) -> KnowledgeBase:
        """The snapshot in use."""
        if self._kb is None:
            raise RuntimeError("the knowledge base is not loaded yet")
        return self._kb

    @property
    def store(self) -> KbStore:
        """The SQL store behind it."""
        return self._store

    async def load_seed(self) -> WriteReport:
        """Write the YAML seed into SQL (records removed from the YAML are removed from SQL)."""
        content = await asyncio.to_thread(load_yaml_dir, self._data_dir)
        return await self._store.upsert(content, YAML_ORIGIN_PREFIX + "seed", replace_prefix=YAML_ORIGIN_PREFIX)

    async def start(self) -> None:
        """Seed an empty database from YAML (once, even when several workers start together), then build."""
        if await self._store.count_items() == 0:
            # Workers starting on an empty database would all seed at once and collide on the primary keys.
            async with self._redis.lock(key(Prefix.KB_SEED_LOCK), timeout=120, blocking_timeout=120):
                if await self._store.count_items() == 0:
                    report = await self.load_seed()
                    log.info("knowledge base seeded: %s items, %s bundles, %s policies", report.items,
                             report.bundles, report.policies)
        await self.rebuild()

    async def rebuild(self) -> KnowledgeBase:
        """Build a new snapshot from SQL and swap it in (the old one serves until the swap)."""
        async with self._lock:
            content = await self._store.load()
            vocabulary = load_vocabulary(self._data_dir)
            self._kb = kb = await asyncio.to_thread(KnowledgeBase.build, content, vocabulary,
                                                     self._cache_dir)
            log.info("knowledge base ready: %s items, %s policies", len(kb.items), len(kb.policies))
        async with self._rebuilt:
            self.generation += 1
            self._rebuilt.notify_all()
        return kb

    async def wait_for_generation(self, generation: int) -> None:
        """Wait until at least `generation` snapshots were built (wrap it in asyncio.timeout)."""
        async with self._rebuilt:
            await self._rebuilt.wait_for(lambda: self.generation >= generation)

    async def announce_reload(self) -> int:
        """Tell every worker (this one included) to rebuild. Returns how many listeners heard it."""
        return int(await self._redis.publish(RELOAD_CHANNEL, "reload"))

    @contextlib.asynccontextmanager
    async def reload_listener(self, subscriber: Subscriber) -> AsyncIterator[None]:
        """Rebuild whenever a reload is announced, for the duration of the block.

        The subscription is confirmed before the block starts, so an announcement made right after start-up
        is not missed.
        """
        async with subscriber.listen(RELOAD_CHANNEL) as inbox:
            task = asyncio.create_task(self._rebuild_on_message(inbox), name="kb-reload-listener")
            try:
                yield
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _rebuild_on_message(self, inbox: Inbox) -> None:
        # Announcements missed while Redis was away are caught up with by one rebuild on its return.
        while True:
            with contextlib.suppress(MissedMessages):
                await inbox.get()
            try:
                await self.rebuild()
            except Exception:
                log.exception("knowledge base reload failed; the previous snapshot stays in use")
