"""A worker killed with SIGKILL mid-load (issue 9, Faults): clients retry what failed with the same message id
or Idempotency-Key and get answered by the surviving worker; every message is one turn, every case and
ticket exists exactly once, and what each citizen was told is what SQL holds.

`yichuang serve --workers 2` on PostgreSQL and Redis servers (several workers need them), like
tests/test_workers.py; without those servers it skips visibly, and fails under CI.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlmodel import col, select

from bot.models import Turn
from bot.turn_state import TurnState
from bot.typedefs import CASES, DB
from core.clock import SHANGHAI
from core.db import create_engine, session_factory
from core.settings import Settings
from handoff.case_models import Case
from handoff.tickets import Ticket
from tests.backends import require_server_database, require_server_redis
from tests.conftest import Visitor
from tests.servers import ServerProcess, free_port, worker_pids, yichuang_env

ANSWER_SECONDS = 60.0  # one message, retried through the kill, must be answered within this
REQUEST_SECONDS = 20.0  # one attempt; the surviving worker answers far sooner
CASE_NO = re.compile(r"BBC[0-9]{8}-[0-9]{4}")


def complaint_script(phone: str) -> list[str]:
    """A 办不成事 complaint told in chat, up to its confirmation."""
    return ["我都跑了三趟了，公积金还是取不出来", "说租房合同没备案", "跳过", "跳过", "跳过", phone, "确认"]


@dataclass
class Citizen:
    """One client of the load: a token, a script, and what it was told."""

    kind: str  # complaint, ticket or chat
    phone: str
    headers: dict[str, str] = field(default_factory=dict)
    user_id: str = ""
    sent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # msg_id → the replies it got
    form_case: str = ""

    def script(self) -> list[str]:
        """What this citizen says."""
        if self.kind == "complaint":
            return complaint_script(self.phone)
        if self.kind == "ticket":
            return ["营业执照怎么办", "转人工", "还要等多久", "好的"]
        return ["你好", "公积金提取要什么材料", "营业执照怎么办", "谢谢", "再见"]


class Load:
    """Citizens talking to the pool at once; a failed attempt (connection dropped by the kill, or 503) is
    retried with the same msg_id / Idempotency-Key, as a client does.
    """

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base
        self.dropped = 0  # attempts that died with the worker
        self.statuses: dict[int, int] = {}
        self.answered = 0
        self._changed = asyncio.Condition()

    async def _attempt(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any] | None:
        try:
            async with asyncio.timeout(REQUEST_SECONDS), self.http.request(method, self.base + path, **kwargs) as resp:
                body = await resp.json()
                self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
                if resp.status == 503:
                    assert resp.headers["Retry-After"].isdigit()
                    return None
                return resp.status, body
        except aiohttp.ClientError:  # the connection went down with the worker
            self.dropped += 1
            return None

    async def until_answered(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Retry one request until it is answered (bounded)."""
        async with asyncio.timeout(ANSWER_SECONDS):
            for attempt in itertools.count():
                if attempt:
                    await asyncio.sleep(0.1)  # the client's back-off before retrying
                if (answer := await self._attempt(method, path, **kwargs)) is not None:
                    break
        async with self._changed:
            self.answered += 1
            self._changed.notify_all()
        return answer

    async def wait(self, answered: int) -> None:
        """Until at least so many requests were answered (bounded)."""
        async with asyncio.timeout(ANSWER_SECONDS), self._changed:
            await self._changed.wait_for(lambda: self.answered >= answered)

    async def live(self, citizen: Citizen, index: int) -> None:
        """Open a session, file a form case, and say the whole script."""
        status, body = await self.until_answered("POST", "/api/v1/sessions")
        assert status == 201, body
        citizen.headers, citizen.user_id = {"Authorization": f"Bearer {body['token']}"}, body["user_id"]
        form = {"phone": citizen.phone, "happened": f"第{index}位：社保转移跑了两趟还没办成"}
        key = {"Idempotency-Key": f"kill-{uuid.uuid4().hex}"}
        for n, text in enumerate(citizen.script()):
            msg_id = f"m{n}"
            status, body = await self.until_answered("POST", "/api/v1/messages", json={"text": text, "msg_id": msg_id},
                                                     headers=citizen.headers)
            assert status == 200 and body["replies"], body
            citizen.sent[msg_id] = body["replies"]
            if n == 1:  # a form case in the middle of the chat, retried with the same key
                status, case = await self.until_answered("POST", "/api/v1/cases", json=form, headers=key)
                assert status in (200, 201), case
                citizen.form_case = case["case_no"]


async def test_a_worker_killed_mid_load_loses_and_duplicates_nothing(tmp_path: Path, models_dir: Path) -> None:
    database_url = await require_server_database()
    today = datetime.now(SHANGHAI).date()
    holidays = tmp_path / "holidays.yml"
    holidays.write_text(f"{today.year}:\n  workdays: [{today.isoformat()}]\n", encoding="utf-8")  # open today
    env = yichuang_env(YICHUANG_DATA_DIR=str(tmp_path / "data"), YICHUANG_DATABASE_URL=database_url,
                       YICHUANG_REDIS_URL=require_server_redis(), YICHUANG_MODELS_DIR=str(models_dir),
                       YICHUANG_HOLIDAYS_FILE=str(holidays), YICHUANG_OFFICE_OPENS="00:00",
                       YICHUANG_OFFICE_LUNCH_STARTS="12:00", YICHUANG_OFFICE_LUNCH_ENDS="12:00",
                       YICHUANG_OFFICE_CLOSES="23:59:59", YICHUANG_USER_LOCK_SECONDS="2",
                       YICHUANG_MESSAGES_PER_USER_MINUTE="10000", YICHUANG_MESSAGES_PER_IP_MINUTE="10000",
                       # No SLA leader: a killed leader's lock would outlive this test by minutes and hold off
                       # the leader election that tests/test_workers.py checks on the same Redis.
                       YICHUANG_SLA_ENABLED="false")
    port = free_port()
    pool = ServerProcess(["serve", "--workers", "2", "--port", str(port)], env, tmp_path, ready_lines=2)
    pool.start()
    base = f"http://127.0.0.1:{port}"
    # Enough citizens that the victim has requests in flight whenever it is killed (with six, a turn became
    # quick enough that the kill now and then found both workers idle between requests).
    citizens = [Citizen(kind, f"139{uuid.uuid4().int % 10**8:08d}") for kind in ("complaint", "ticket", "chat") * 4]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            pids = await worker_pids(http, base)
            assert len(pids) == 2, pids
            load = Load(http, base)
            running = asyncio.gather(*(load.live(c, i) for i, c in enumerate(citizens)))
            try:
                await load.wait(answered=2 * len(citizens))  # everyone is talking
                victim = min(pids)
                os.kill(victim, signal.SIGKILL)
                await running
            finally:
                running.cancel()
            # The pool replaces the dead worker (start-up takes a few seconds): two workers again, the victim gone.
            deadline = time.monotonic() + 60
            while len(survivors := await worker_pids(http, base)) < 2:
                assert time.monotonic() < deadline, f"no worker replaced the killed one: {survivors}"
                await asyncio.sleep(0.2)
    finally:
        code = pool.stop()
    assert victim not in survivors and pids - {victim} <= survivors, "the other worker went on serving"
    assert code == 0, pool.output  # a replaced worker is not an error of the pool
    assert "exited with code -9; starting a new one" in pool.output, pool.output
    assert load.dropped >= 1, "the kill must have hit requests in flight, or this test proved nothing"
    assert set(load.statuses) <= {200, 201, 503}, load.statuses
    assert "Traceback" not in pool.output, pool.output

    engine = create_engine(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        async with session_factory(engine)() as db:
            for citizen in citizens:
                turns = (await db.exec(select(Turn).where(Turn.user_id == citizen.user_id))).all()
                # One turn per message, and the answer the citizen got is the one logged.
                assert sorted(t.msg_id for t in turns) == sorted(citizen.sent), citizen
                assert {t.msg_id: t.replies for t in turns} == citizen.sent
                cases = (await db.exec(select(Case).where(Case.phone == citizen.phone)
                                       .order_by(col(Case.id)))).all()
                told = {no for replies in citizen.sent.values() for r in replies for no in CASE_NO.findall(r["text"])}
                # Exactly the cases the citizen was given a number for: the form's, and the chat's if filed.
                assert sorted(c.case_no for c in cases) == sorted(told | {citizen.form_case}), citizen
                if citizen.kind == "complaint":
                    assert len(cases) <= 2
                tickets = (await db.exec(select(Ticket).where(Ticket.user_id == citizen.user_id))).all()
                assert len(tickets) == (1 if citizen.kind == "ticket" else 0), citizen
    finally:
        await engine.dispose()


async def test_a_worker_dying_between_logging_a_turn_and_replying(client: TestClient, visitor: Visitor,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The window a SIGKILL can hit but not reliably: the turn is committed to SQL, the session and the
    dedupe key never reach Redis, the client gets no answer. Its retry must get the logged answer without
    running the flow again. The session in Redis is then one step behind; the conversation resumes from
    there, and repeating a step must be harmless (here: confirming again files nothing new).
    """
    for text in complaint_script("13912345678")[:-1]:
        await visitor.say(text)
    finish = TurnState.finish

    async def die_once(self: TurnState, begun: Any, session: Any, answer: str, horizon: int) -> bool:
        monkeypatch.setattr(TurnState, "finish", finish)
        raise RedisConnectionError("worker killed")  # as far as the client can tell, the same

    monkeypatch.setattr(TurnState, "finish", die_once)
    resp = await client.post("/api/v1/messages", json={"text": "确认", "msg_id": "confirm"}, headers=visitor.headers)
    assert resp.status == 503

    retried = await visitor.say("确认", msg_id="confirm")
    async with client.app[DB]() as db:
        turn = (await db.exec(select(Turn).where(Turn.user_id == visitor.user_id, Turn.msg_id == "confirm"))).one()
    assert retried["replies"] == turn.replies and CASE_NO.search(retried["replies"][0]["text"])
    metrics = await (await client.get("/metrics")).text()
    assert 'yichuang_duplicate_messages_total{channel="web"} 1.0' in metrics  # answered from the log
    assert len(await client.app[CASES].of_user(visitor.user_id)) == 1

    # The session still waits for the confirmation: a second one names the same case and files nothing.
    case_no = CASE_NO.search(retried["replies"][0]["text"])
    after = await visitor.say("确认")
    assert case_no is not None and case_no.group() in after["replies"][0]["text"], after
    assert len(await client.app[CASES].of_user(visitor.user_id)) == 1


async def test_a_retry_after_the_next_message_still_finds_the_logged_turn(client: TestClient, visitor: Visitor,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """As above, but the citizen sends something else before the retry arrives. That turn finds no dedupe
    horizon (the dying turn took it away) and must set one that still sends the retry to the SQL turn log:
    otherwise the confirmation would run again and file a second case.
    """
    for text in complaint_script("13912345679")[:-1]:
        await visitor.say(text)
    finish = TurnState.finish

    async def die_once(self: TurnState, begun: Any, session: Any, answer: str, horizon: int) -> bool:
        monkeypatch.setattr(TurnState, "finish", finish)
        raise RedisConnectionError("worker killed")

    monkeypatch.setattr(TurnState, "finish", die_once)
    resp = await client.post("/api/v1/messages", json={"text": "确认", "msg_id": "confirm"}, headers=visitor.headers)
    assert resp.status == 503
    await visitor.say("你好", msg_id="hello")
    await visitor.say("谢谢", msg_id="thanks")  # its horizon came from Redis, set by the turn before

    retried = await visitor.say("确认", msg_id="confirm")
    case_no = CASE_NO.search(retried["replies"][0]["text"])
    assert case_no is not None, retried
    metrics = await (await client.get("/metrics")).text()
    assert 'yichuang_duplicate_messages_total{channel="web"} 1.0' in metrics  # answered from the log, not run
    cases = await client.app[CASES].of_user(visitor.user_id)
    assert [c.case_no for c in cases] == [case_no.group()]
