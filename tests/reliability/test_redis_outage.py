"""Redis restarted or flushed under load (issue 9, Faults): requests fail fast with 503 + Retry-After while
it is gone, no SQL record is lost, the live queues are rebuilt, sessions restart politely, and a retried
message still counts once.

The app runs on the suite's database (SQLite or PostgreSQL) and a redis-server of the test's own, which
the test kills and starts again (empty: no persistence) or flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient
from sqlalchemy import func
from sqlmodel import col, select

from bot.app import create_app
from bot.messages import Reply
from bot.models import Turn
from bot.texts import Texts
from bot.typedefs import DB, KB, OUTBOX, TICKETS
from core.clock import SHANGHAI
from core.settings import Settings
from handoff.case_models import Case
from handoff.tickets import Ticket
from tests.conftest import Visitor, new_visitor
from tests.reliability.faults import PrivateRedis, TcpProxy

HANG_SECONDS = 20.0  # far above the app's Redis timeout here (1 s): a request slower than this hangs
ANSWER_SECONDS = 60.0  # a message retried through an outage must be answered within this
VISITORS = 4
TEXTS = ("营业执照怎么办", "公积金提取要什么材料", "你好", "谢谢")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test alone."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def redis_client(aiohttp_client: Any, settings: Settings, private_redis: PrivateRedis,
                       tmp_path: Path) -> TestClient:
    """The whole app on the private Redis, with windows open around the clock (tickets queue at once)."""
    today = datetime.now(SHANGHAI).date()
    holidays = tmp_path / "holidays.yml"
    holidays.write_text(f"{today.year}:\n  workdays: [{today.isoformat()}]\n", encoding="utf-8")
    return await aiohttp_client(create_app(settings.model_copy(update={
        "redis_url": private_redis.url, "redis_timeout_seconds": 1.0, "user_lock_seconds": 2.0,
        "messages_per_user_minute": 10_000, "holidays_file": holidays, "office_opens": time(0, 0),
        "office_lunch_starts": time(12, 0), "office_lunch_ends": time(12, 0), "office_closes": time(23, 59, 59)})))


class Load:
    """Visitors chatting at once; each message is retried with its msg_id until answered, as a client does
    on 503. Records every status so the test can check that the outage showed as 503s and nothing else.
    """

    def __init__(self, client: TestClient, visitors: list[Visitor], rounds: int) -> None:
        self.client, self.visitors, self.rounds = client, visitors, rounds
        self.statuses: Counter[int] = Counter()
        self.missing_retry_after = 0
        self.answered = 0
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        """Every visitor sends every message."""
        await asyncio.gather(*(self._chat(v, i) for i, v in enumerate(self.visitors)))

    async def _chat(self, visitor: Visitor, index: int) -> None:
        for r in range(self.rounds):
            body = {"text": TEXTS[(index + r) % len(TEXTS)], "msg_id": f"load-{index}-{r}"}
            async with asyncio.timeout(ANSWER_SECONDS):
                while True:
                    resp = await asyncio.wait_for(self.client.post("/api/v1/messages", json=body,
                                                                   headers=visitor.headers), HANG_SECONDS)
                    reply = await resp.json()
                    await self._count(resp.status)
                    if resp.status == 200:
                        assert reply["replies"] and reply["replies"][0]["text"], reply
                        break
                    if resp.status == 503 and not resp.headers.get("Retry-After", "").isdigit():
                        self.missing_retry_after += 1
                    assert resp.status == 503, reply
                    await asyncio.sleep(0.05)  # the client's back-off before retrying
            async with self._changed:
                self.answered += 1
                self._changed.notify_all()

    async def _count(self, status: int) -> None:
        async with self._changed:
            self.statuses[status] += 1
            self._changed.notify_all()

    async def wait(self, *, answered: int = 0, unavailable: int = 0) -> None:
        """Until at least so many messages were answered and so many 503s seen (bounded)."""
        async with asyncio.timeout(ANSWER_SECONDS), self._changed:
            await self._changed.wait_for(lambda: self.answered >= answered and self.statuses[503] >= unavailable)


async def count(client: TestClient, model: Any, *where: Any) -> int:
    """Rows of `model` matching `where`, straight from SQL."""
    async with client.app[DB]() as db:
        return int((await db.exec(select(func.count()).select_from(model).where(*where))).one())


async def test_redis_restarted_then_flushed_mid_load(redis_client: TestClient, private_redis: PrivateRedis) -> None:
    client = redis_client
    # Before: a complaint half-way through, a citizen waiting for a person, a case from the form.
    complainer = await new_visitor(client)
    first = await complainer.say("我都跑了三趟了，公积金还是取不出来", msg_id="c-1")
    assert first["flow"] == "complaint"
    await complainer.say("说租房合同没备案", msg_id="c-2")
    waiting = await new_visitor(client)
    assert (await waiting.say("转人工"))["flow"] == "handoff"
    ticket = await client.app[TICKETS].open_ticket_of(waiting.user_id)
    assert ticket is not None and ticket.status == "waiting"
    resp = await client.post("/api/v1/cases", json={"phone": "13912345678", "happened": "社保转移一直不给办"},
                             headers={"Idempotency-Key": "form-before-outage"})
    assert resp.status == 201
    case_no = (await resp.json())["case_no"]
    kb = client.app[KB]
    generation = kb.generation

    visitors = [await new_visitor(client) for _ in range(VISITORS)]
    load = Load(client, visitors, rounds=8)
    running = asyncio.create_task(load.run())
    try:
        await load.wait(answered=VISITORS)
        private_redis.kill()  # mid-load
        await load.wait(unavailable=3)
        # Down: the other routes say 503 too, at once rather than after a TCP timeout.
        form = {"phone": "13912345678", "happened": "又没办成"}
        down = await asyncio.wait_for(client.post("/api/v1/cases", json=form), HANG_SECONDS)
        assert down.status == 503 and down.headers["Retry-After"].isdigit()
        health = await client.get("/healthz")
        assert health.status == 503 and (await health.json())["redis"] == "unavailable"

        private_redis.start()  # back, empty
        answered = load.answered
        await load.wait(answered=answered + VISITORS)
        private_redis.flushdb()  # and wiped once more, mid-load
        await running
    finally:
        running.cancel()
    assert load.statuses[200] == VISITORS * 8
    assert set(load.statuses) == {200, 503}, load.statuses
    assert load.missing_retry_after == 0

    # Every message of the load counts once in the turn log, none lost, none twice.
    user_ids = [v.user_id for v in visitors]
    assert await count(client, Turn, col(Turn.user_id).in_(user_ids)) == VISITORS * 8

    # A retried message from before the outage gets its first answer (from SQL), not a second turn.
    again = await complainer.say("我都跑了三趟了，公积金还是取不出来", msg_id="c-1")
    assert (again["replies"], again["flow"]) == (first["replies"], first["flow"])
    # The half-told complaint was forgotten with Redis: the next message gets a short apology saying to
    # start again, then the normal answer to what was said.
    after = await complainer.say("跳过", msg_id="c-3")
    assert after["replies"][0]["text"] == Texts.from_yaml().get("session_lost")
    assert after["replies"][1]["text"] and after["flow"] is not None
    assert "抱歉" not in (await complainer.say("你好", msg_id="c-4"))["replies"][0]["text"]  # said once only
    assert await count(client, Turn, Turn.user_id == complainer.user_id) == 4

    # The queue is rebuilt from SQL: the waiting citizen is still first in line, and staff see the ticket.
    ack = await waiting.say("还要等多久")
    assert ack["flow"] == "handoff" and "下一位就是您" in ack["replies"][0]["text"], ack
    queues = await client.app[TICKETS].queues([ticket.window])
    assert queues[0]["waiting"] == 1
    assert await count(client, Ticket, Ticket.user_id == waiting.user_id) == 1
    # The form's case is still there for its owner.
    found = await client.get(f"/api/v1/cases/{case_no}", params={"phone": "13912345678"})
    assert found.status == 200
    assert await count(client, Case, Case.phone == "13912345678") == 1

    # This worker still hears knowledge-base reloads: it caught up once Redis came back, and listens again.
    async with asyncio.timeout(ANSWER_SECONDS):
        await kb.wait_for_generation(generation + 1)
        generation = kb.generation
        assert await kb.announce_reload() == 1
        await kb.wait_for_generation(generation + 1)


async def test_the_first_request_after_a_redis_restart_is_served(redis_client: TestClient,
                                                                  private_redis: PrivateRedis) -> None:
    visitor = await new_visitor(redis_client)
    await visitor.say("你好")  # the app's pooled connections now exist, and are about to go stale
    private_redis.kill()
    private_redis.start()
    reply = await visitor.say("营业执照怎么办", msg_id=uuid.uuid4().hex)
    assert reply["replies"][0]["text"]


async def test_a_frozen_redis_answers_503_after_the_timeout_not_a_hang(aiohttp_client: Any, settings: Settings,
                                                                        private_redis: PrivateRedis) -> None:
    proxy = TcpProxy("127.0.0.1", private_redis.port)
    await proxy.start()
    try:
        client = await aiohttp_client(create_app(settings.model_copy(update={
            "redis_url": proxy.url(private_redis.url), "redis_timeout_seconds": 1.0})))
        visitor = await new_visitor(client)
        await visitor.say("你好")
        proxy.stall()  # connections stay open, nothing answers
        for _ in range(2):
            resp = await asyncio.wait_for(client.post("/api/v1/messages", json={"text": "你好", "msg_id": "frozen"},
                                                      headers=visitor.headers), HANG_SECONDS)
            assert resp.status == 503 and resp.headers["Retry-After"].isdigit(), await resp.text()
        await proxy.restore()
        assert (await visitor.say("你好", msg_id="frozen"))["replies"][0]["text"]
    finally:
        await proxy.close()


async def test_open_event_streams_carry_on_after_a_redis_restart(redis_client: TestClient,
                                                                 private_redis: PrivateRedis) -> None:
    """The worker's one pub/sub connection comes back by itself: a chat tab left open hears a staff reply pushed
    after the restart, and a console stream ends so the console reconnects and reloads what it missed."""
    from tests.channels.test_web_api import next_data
    from tests.handoff.test_staff import add_staff, logged_in

    client = redis_client
    visitor = await new_visitor(client)
    chat = await client.get("/api/v1/events", params={"token": visitor.token})
    await add_staff(client, "liwei", role="supervisor")
    await logged_in(client, "liwei")
    console = await client.get("/api/v1/agent/events")
    assert chat.status == 200 and console.status == 200

    private_redis.kill()
    private_redis.start()
    async with asyncio.timeout(ANSWER_SECONDS):
        while await console.content.readline():  # pings, until the server ends the stream
            pass
        await client.app[OUTBOX].push(visitor.user_id, [Reply("请补充身份证复印件。")], "staff")
        assert (await next_data(chat))["text"] == "请补充身份证复印件。"
        await logged_in(client, "liwei")  # staff logins lived in the Redis that restarted empty
        console = await client.get("/api/v1/agent/events")
        assert console.status == 200
    chat.close()
    console.close()


async def test_a_worker_opens_no_more_redis_connections_than_its_pool(aiohttp_client: Any, settings: Settings,
                                                                      private_redis: PrivateRedis) -> None:
    """Connections stay within YICHUANG_REDIS_POOL_SIZE however many turns and streams run at once; past it a
    command waits for a free connection instead of failing."""
    client = await aiohttp_client(create_app(settings.model_copy(update={
        "redis_url": private_redis.url, "redis_pool_size": 4, "messages_per_user_minute": 10_000})))
    visitors = [await new_visitor(client) for _ in range(12)]
    streams = [await client.get("/api/v1/events", params={"token": v.token}) for v in visitors[:4]]
    load = Load(client, visitors, rounds=3)
    await load.run()
    assert load.statuses == Counter({200: 12 * 3})
    with contextlib.closing(redis.Redis(port=private_redis.port)) as probe:
        clients = [c for c in probe.client_list() if c["id"] != str(probe.client_id())]
    assert 0 < len(clients) <= 4
    for s in streams:
        s.close()
