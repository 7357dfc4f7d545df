"""The web channel's chat API, driven over real HTTP as a browser or an integrator would."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import select

from bot.app import create_app
from bot.flows.fallback import FallbackFlow
from bot.messages import Reply
from bot.models import Turn
from bot.turns import TurnLog
from bot.typedefs import DB, OUTBOX, REDIS, TOKENS
from core.settings import Settings
from handoff.tickets import TicketService
from tests.conftest import Visitor, new_visitor, served, tasks_left_running


async def test_greeting_shows_the_help_menu(visitor: Visitor) -> None:
    body = await visitor.say("你好")
    assert body["flow"] == "smalltalk"
    assert body["nlu"]["intent"]["name"] == "greet"
    reply = body["replies"][0]
    assert "政务服务智能助手" in reply["text"]
    titles = [b["title"] for b in reply["buttons"]]
    assert "办不成事反映" in titles and "转人工服务" in titles


async def test_help_works_with_full_width_and_punctuation(visitor: Visitor) -> None:
    body = await visitor.say("  帮助！ ")
    assert body["nlu"]["intent"]["name"] == "help"
    assert body["replies"][0]["buttons"]


async def test_a_number_selects_the_offered_button(visitor: Visitor) -> None:
    menu = (await visitor.say("菜单"))["replies"][0]["buttons"]
    body = await visitor.say("１")  # full-width digit, as phone keyboards send it
    assert body["nlu"]["text"] == menu[0]["payload"]


async def test_second_miss_in_a_row_offers_the_menu(visitor: Visitor) -> None:
    first = await visitor.say("阿巴阿巴")
    assert first["flow"] == "fallback"
    assert first["replies"][0]["buttons"] == []
    second = await visitor.say("嗯嗯嗯")
    assert second["flow"] == "fallback"
    assert second["replies"][0]["buttons"], "the second miss must offer choices"
    assert "转人工" in second["replies"][0]["text"]  # and a person
    assert "转人工" in [b["payload"] for b in second["replies"][0]["buttons"]]
    # an understood message resets the count
    await visitor.say("谢谢")
    again = await visitor.say("阿巴阿巴")
    assert again["replies"][0]["buttons"] == []


async def test_cancel_and_restart_are_understood_anywhere(visitor: Visitor) -> None:
    cancel = await visitor.say("取消")
    assert cancel["nlu"]["intent"]["name"] == "cancel"
    assert cancel["replies"][0]["text"].startswith("好的")
    body = await visitor.say("重新开始")
    assert body["replies"][0]["text"].startswith("好的，我们重新开始")
    assert body["replies"][1]["buttons"]


async def test_retry_with_same_msg_id_runs_once(client: TestClient, visitor: Visitor) -> None:
    first = await visitor.say("阿巴阿巴", msg_id="m-1")
    retry = await visitor.say("阿巴阿巴", msg_id="m-1")
    assert retry == first
    # Had it run twice, the second would be the "second miss" with buttons.
    assert retry["replies"][0]["buttons"] == []
    async with client.app[DB]() as db:
        turns = (await db.exec(select(Turn).where(Turn.user_id == visitor.user_id))).all()
    assert [t.msg_id for t in turns] == ["m-1"]


async def test_retry_after_redis_was_wiped_is_not_run_twice(client: TestClient, visitor: Visitor,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    first = await visitor.say("阿巴阿巴", msg_id="m-lost")
    await client.app[REDIS].flushdb()  # restarted without persistence
    ran: list[str] = []
    monkeypatch.setattr(FallbackFlow, "handle", spy(FallbackFlow.handle, ran))
    retry = await visitor.say("阿巴阿巴", msg_id="m-lost")
    assert retry["replies"] == first["replies"] and ran == []  # answered from the turn log
    assert retry["flow"] == "fallback" and retry["nlu"]["intent"]["name"] == first["nlu"]["intent"]["name"]
    async with client.app[DB]() as db:
        assert len((await db.exec(select(Turn).where(Turn.user_id == visitor.user_id))).all()) == 1


async def test_a_visitors_turns_ask_sql_only_after_redis_forgot_them(client: TestClient, visitor: Visitor,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The dedupe horizon (bot/turn_state.py): while Redis vouches for every earlier message of the user, a new
    message id needs no SQL lookup, which was a fifth of a turn's SQL statements (issue 9). A visitor whose
    session was made just now has nothing logged and no ticket, so even its first turn asks SQL nothing
    (`Engine.welcome`); once Redis has forgotten the user, its turns ask the turn log and the tickets again.
    """
    asked: list[str] = []
    monkeypatch.setattr(TurnLog, "find", spy(TurnLog.find, asked))
    monkeypatch.setattr(TurnLog, "last_of", spy(TurnLog.last_of, asked))
    monkeypatch.setattr(TicketService, "_open_ticket_in_sql", spy(TicketService._open_ticket_in_sql, asked))
    for n in range(3):
        await visitor.say("你好", msg_id=f"hello-{n}")
    assert asked == []
    retry = await visitor.say("你好", msg_id="hello-1")  # answered from Redis
    assert retry["flow"] == "smalltalk" and asked == []
    await client.app[REDIS].flushdb()  # restarted without persistence
    retry = await visitor.say("你好", msg_id="hello-2")  # answered from the turn log, not run again
    assert retry["flow"] == "smalltalk" and sorted(asked) == ["find", "last_of"]
    await visitor.say("你好", msg_id="hello-3")  # a new message: has the user an open ticket?
    assert "_open_ticket_in_sql" in asked


async def test_an_address_opening_sessions_too_fast_gets_429(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"sessions_per_ip_minute": 3})))
    statuses = [(await client.post("/api/v1/sessions")).status for _ in range(3)]
    resp = await client.post("/api/v1/sessions")
    assert statuses == [201, 201, 201] and resp.status == 429
    body = await resp.json()
    assert body["error"]["code"] == "rate_limited" and "太频繁" in body["error"]["message"]
    assert 0 < int(resp.headers["Retry-After"]) <= 60


def spy(method: Any, calls: list[str]) -> Any:
    """`method`, recording each call's name in `calls`."""

    async def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append(method.__name__)
        return await method(*args, **kwargs)

    return recorded


async def test_concurrent_retries_produce_one_turn(client: TestClient, visitor: Visitor) -> None:
    import asyncio

    answers = await asyncio.gather(*(visitor.say("阿巴阿巴", msg_id="storm") for _ in range(3)))
    assert answers[0] == answers[1] == answers[2]
    async with client.app[DB]() as db:
        turns = (await db.exec(select(Turn).where(Turn.user_id == visitor.user_id))).all()
    assert len(turns) == 1


async def test_turns_are_logged_without_id_numbers(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("号码是110101199003071234")
    async with client.app[DB]() as db:
        turn = (await db.exec(select(Turn).where(Turn.user_id == visitor.user_id))).one()
    assert "110101199003071234" not in turn.text
    assert turn.text.startswith("号码是110101")
    assert turn.flow == "fallback" and turn.replies


async def test_two_visitors_do_not_share_a_session(client: TestClient) -> None:
    alice, bob = await new_visitor(client), await new_visitor(client)
    await alice.say("阿巴阿巴")
    body = await bob.say("阿巴阿巴")
    assert body["replies"][0]["buttons"] == [], "bob's first miss must not count alice's"


async def test_pushed_messages_are_read_after_a_cursor(client: TestClient, visitor: Visitor) -> None:
    outbox = client.app[OUTBOX]
    ids = await outbox.push(visitor.user_id, [Reply("您好，我是工作人员 1021 号。"), Reply("材料已收到。")], "staff")
    await outbox.push("web:someone-else", [Reply("别人的消息")], "staff")
    resp = await client.get("/api/v1/messages", headers=visitor.headers)
    body = await resp.json()
    assert [m["text"] for m in body["messages"]] == ["您好，我是工作人员 1021 号。", "材料已收到。"]
    assert body["messages"][0]["source"] == "staff"
    assert body["cursor"] == ids[-1]
    resp = await client.get(f"/api/v1/messages?after={ids[0]}", headers=visitor.headers)
    assert [m["text"] for m in (await resp.json())["messages"]] == ["材料已收到。"]
    resp = await client.get(f"/api/v1/messages?after={ids[-1]}", headers=visitor.headers)
    assert (await resp.json()) == {"messages": [], "cursor": ids[-1]}


async def test_events_stream_delivers_pushed_messages_live(client: TestClient, visitor: Visitor) -> None:
    outbox = client.app[OUTBOX]
    early = await outbox.push(visitor.user_id, [Reply("早先的消息")], "case")
    resp = await client.get(f"/api/v1/events?token={visitor.token}")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")

    async def next_event() -> tuple[str, str]:
        event_id = data = ""
        while True:  # bounded by the wait_for below
            raw = await resp.content.readline()
            assert raw, "the event stream ended before the event"
            line = raw.decode().rstrip("\r\n")
            if line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line == "" and data:
                return event_id, data

    event_id, data = await asyncio.wait_for(next_event(), 5)
    assert event_id == str(early[0]) and json.loads(data)["text"] == "早先的消息"
    live = await outbox.push(visitor.user_id, [Reply("工作人员回复：请补充租房合同。")], "staff")
    event_id, data = await asyncio.wait_for(next_event(), 5)
    assert event_id == str(live[0])
    assert json.loads(data)["text"] == "工作人员回复：请补充租房合同。"
    resp.close()


async def test_shutdown_ends_a_stream_whose_reader_has_gone(settings: Settings, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """The server notices a reader gone only at its next write; shutdown must neither wait for that nor leave
    the stream running on after the database and Redis are closed."""
    monkeypatch.setattr("channels.web.SSE_WAIT_SECONDS", 60.0)  # its next write: a minute away
    loop = asyncio.get_running_loop()
    async with served(create_app(settings)) as url:
        async with aiohttp.ClientSession(url) as http:
            session = await http.post("/api/v1/sessions")
            token = (await session.json())["token"]
            async with http.get("/api/v1/events", params={"token": token}) as stream:
                assert stream.status == 200
        reader_gone = loop.time()

    assert loop.time() - reader_gone < 30  # a bound, not a measurement: it took the minute before
    assert tasks_left_running() == []


async def test_events_need_a_valid_token(client: TestClient) -> None:
    resp = await client.get("/api/v1/events?token=forged.token")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_token"


async def test_expired_token_is_refused(client: TestClient) -> None:
    old, _ = client.app[TOKENS].issue("web:old", now=0)
    resp = await client.post("/api/v1/messages", json={"text": "你好"}, headers={"Authorization": f"Bearer {old}"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "token_expired"


async def test_message_ids_are_scoped_to_their_user(client: TestClient) -> None:
    alice, bob = await new_visitor(client), await new_visitor(client)
    shared = uuid.uuid4().hex
    a = await alice.say("你好", msg_id=shared)
    b = await bob.say("谢谢", msg_id=shared)
    assert a["nlu"]["intent"]["name"] == "greet" and b["nlu"]["intent"]["name"] == "thanks"


async def test_a_user_sending_too_fast_gets_429_with_retry_after(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"messages_per_user_minute": 3})))
    fast, other = await new_visitor(client), await new_visitor(client)
    statuses = []
    for i in range(4):
        resp = await client.post("/api/v1/messages", json={"text": "你好", "msg_id": f"m{i}"}, headers=fast.headers)
        statuses.append(resp.status)
    assert statuses == [200, 200, 200, 429]
    body = await resp.json()
    assert body["error"]["code"] == "rate_limited" and "太频繁" in body["error"]["message"]
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    assert (await other.say("你好"))["flow"] == "smalltalk"  # another user is not slowed down


async def test_bad_requests_count_against_the_limit_too(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"messages_per_user_minute": 3})))
    visitor = await new_visitor(client)
    statuses = []
    for body in ({"text": 42}, {"text": "你好", "msg_id": "坏的"}, {"text": "你好"}, {"text": "你好"}):
        statuses.append((await client.post("/api/v1/messages", json=body, headers=visitor.headers)).status)
    assert statuses == [400, 400, 200, 429]


async def test_a_first_miss_near_a_kb_record_suggests_it(visitor: Visitor) -> None:
    reply = await visitor.say("阿巴阿巴房子的本")
    assert reply["flow"] == "fallback"
    assert reply["replies"][0]["text"].startswith("抱歉，我没太明白。您是不是想问")
    titles = [b["title"] for b in reply["replies"][0]["buttons"]]
    assert titles and all("登记" in t for t in titles)  # 不动产 items, not noise
    chosen = await visitor.say("1")
    assert chosen["flow"] == "guide" and chosen["replies"][0]["text"].startswith(f"【{titles[0]}】")


async def next_data(stream: aiohttp.ClientResponse) -> dict[str, Any]:
    """The JSON of the next server-sent event with data on `stream` (bound it with a timeout)."""
    while True:
        raw = await stream.content.readline()
        assert raw, "the event stream ended before the event"
        line = raw.decode()
        if line.startswith("data:") and line[5:].strip():
            return dict(json.loads(line[5:]))


async def test_open_event_streams_share_the_workers_one_redis_connection(client: TestClient) -> None:
    """Each open chat tab and console held a Redis pub/sub connection of its own, so a worker's connections
    grew with its streams and its pool could not be bounded."""
    from tests.handoff.test_staff import add_staff, logged_in

    redis = client.app[REDIS]
    before = len(await redis.client_list(_type="pubsub"))
    visitors = [await new_visitor(client) for _ in range(6)]
    streams = [await client.get("/api/v1/events", params={"token": v.token}) for v in visitors]
    await add_staff(client, "liwei", role="supervisor")
    await logged_in(client, "liwei")
    consoles = [await client.get("/api/v1/agent/events") for _ in range(2)]
    try:
        assert all(s.status == 200 for s in streams + consoles)
        assert len(await redis.client_list(_type="pubsub")) == before
        for v in visitors:
            await client.app[OUTBOX].push(v.user_id, [Reply(f"给 {v.user_id} 的回复")], "staff")
        async with asyncio.timeout(10):
            for v, stream in zip(visitors, streams, strict=True):
                assert (await next_data(stream))["text"] == f"给 {v.user_id} 的回复"  # each their own, no other
    finally:
        for s in streams + consoles:
            s.close()


async def test_a_local_example_policy_is_never_suggested_for_a_miss(visitor: Visitor) -> None:
    reply = await visitor.say("我租的房子 房东不给租房合同怎么办")  # near 县标准厂房租金减免（示例）, among others
    titles = [b["title"] for r in reply["replies"] for b in r.get("buttons", [])]
    assert not any("示例" in t for t in titles), reply
