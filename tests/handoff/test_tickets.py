"""转人工 through the HTTP API: the queue, claiming, the relay both ways, transfer, close and rating,
out-of-hours messages, abandoned tickets and a queue rebuilt after Redis forgets it."""

from __future__ import annotations

import asyncio
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.typedefs import DB, EVALUATIONS, REDIS, STAFF, TICKETS
from core.clock import today_local
from core.errors import Conflict, NotFound
from core.keys import Prefix, key
from core.settings import Settings
from handoff.tickets import NO_TICKET
from tests.channels.test_web_api import next_data
from tests.conftest import Visitor, new_visitor
from tests.handoff.test_staff import PASSWORD, add_staff, logged_in


def _app_settings(settings: Settings, tmp_path: Path, *, open_today: bool) -> Settings:
    """Windows open all day today (a working day by override), or closed all day (a holiday)."""
    holidays = tmp_path / "holidays.yml"
    kind = "workdays" if open_today else "holidays"
    holidays.write_text(f"{today_local().year}:\n  {kind}: [{today_local().isoformat()}]\n", encoding="utf-8")
    return settings.model_copy(update={"holidays_file": holidays, "office_opens": time(0, 0),
                                       "office_lunch_starts": time(12, 0), "office_lunch_ends": time(12, 0),
                                       "office_closes": time(23, 59, 59)})


@pytest.fixture
async def open_client(aiohttp_client: Any, settings: Settings, tmp_path: Path) -> TestClient:
    """The app with every window open right now."""
    return await aiohttp_client(create_app(_app_settings(settings, tmp_path, open_today=True)))


@pytest.fixture
async def closed_client(aiohttp_client: Any, settings: Settings, tmp_path: Path) -> TestClient:
    """The app on a day every window is closed."""
    return await aiohttp_client(create_app(_app_settings(settings, tmp_path, open_today=False)))


async def pushed(visitor: Visitor) -> list[dict[str, Any]]:
    """Messages pushed to the visitor's chat so far."""
    resp = await visitor.client.get("/api/v1/messages", headers=visitor.headers)
    return (await resp.json())["messages"]


async def test_handoff_end_to_end(open_client: TestClient) -> None:
    client = open_client
    first, second = await new_visitor(client), await new_visitor(client)
    await first.say("办护照")
    queued = await first.say("转人工")
    assert queued["flow"] == "handoff"
    assert queued["replies"][0]["text"].startswith("正在为您转接【出入境】窗口，下一位就是您")
    await second.say("办护照")
    assert "前面还有 1 位" in (await second.say("人工"))["replies"][0]["text"]
    waiting = await first.say("我的护照过期了，想换新的")
    assert "已转给工作人员" in waiting["replies"][0]["text"]

    await add_staff(client, "zhao", windows=("出入境",))
    csrf = await logged_in(client, "zhao")
    headers = {"X-CSRF-Token": csrf}
    queues = (await (await client.get("/api/v1/agent/queues")).json())["queues"]
    assert queues == [{"window": "出入境", "waiting": 2, "serving": 0, "longest_wait_seconds": queues[0][
        "longest_wait_seconds"]}]
    listed = (await (await client.get("/api/v1/agent/tickets", params={"status": "waiting"})).json())["tickets"]
    assert [t["position"] for t in listed] == [1, 2]
    ticket_id = listed[0]["id"]
    detail = await (await client.get(f"/api/v1/agent/tickets/{ticket_id}")).json()
    senders_texts = [(m["sender"], m["text"]) for m in detail["messages"]]
    # The conversation before the handoff, in the order it was said, then what was said while waiting.
    assert senders_texts[0] == ("citizen", "办护照")
    assert senders_texts[1][0] == "bot" and senders_texts[1][1].startswith("【普通护照签发")
    assert senders_texts.index(("citizen", "我的护照过期了，想换新的")) > 1

    claimed = await client.post(f"/api/v1/agent/tickets/{ticket_id}/claim", headers=headers)
    assert claimed.status == 200 and (await claimed.json())["status"] == "serving"
    again = await client.post(f"/api/v1/agent/tickets/{ticket_id}/claim", headers=headers)
    assert again.status == 409
    # The display name the account was given, not its login name.
    assert any(m["text"] == "工作人员 zhao 同志 为您服务。" for m in await pushed(first))
    assert any(m["text"] == "排队进度：下一位就是您。" for m in await pushed(second))

    silent = await first.say("请问要带什么材料")
    assert silent["flow"] == "handoff" and silent["replies"] == []  # the bot stays silent while a person serves
    await client.post(f"/api/v1/agent/tickets/{ticket_id}/note", json={"text": "老年人，耐心"}, headers=headers)
    sent = await client.post(f"/api/v1/agent/tickets/{ticket_id}/reply", json={"text": "请带身份证和旧护照。"},
                             headers=headers)
    assert sent.status == 200
    texts = [m["text"] for m in await pushed(first)]
    assert "请带身份证和旧护照。" in texts and "老年人，耐心" not in texts
    detail = await (await client.get(f"/api/v1/agent/tickets/{ticket_id}")).json()
    kept = [(m["sender"], m["text"]) for m in detail["messages"]]
    assert ("citizen", "请问要带什么材料") in kept and ("staff", "请带身份证和旧护照。") in kept

    closed = await client.post(f"/api/v1/agent/tickets/{ticket_id}/close", json={}, headers=headers)
    assert closed.status == 200
    rating = (await pushed(first))[-1]
    assert rating["text"] == "请为本次人工服务评价："
    after = await first.say("谢谢")
    assert after["flow"] == "smalltalk"  # the bot is back
    await first.say(rating["buttons"][-1]["payload"])
    done = await first.say("跳过")
    assert done["replies"][0]["text"] == "已收到您的评价：非常满意。谢谢！"
    ticket = await client.app[TICKETS].get(ticket_id)
    assert ticket.rating == 5
    assert (await client.app[EVALUATIONS].of_services("ticket", [ticket.number]))[ticket.number].rating == 5

    left = await second.say("取消")
    assert left["replies"][0]["text"].startswith("好的，已退出排队")
    queues = (await (await client.get("/api/v1/agent/queues")).json())["queues"]
    assert queues[0]["waiting"] == 0


async def test_leaving_the_queue_tells_everyone_behind_their_new_place_live(open_client: TestClient) -> None:
    client = open_client
    visitors = [await new_visitor(client) for _ in range(4)]
    for visitor in visitors:
        await visitor.say("办护照")
        await visitor.say("转人工")
    streams = [await client.get("/api/v1/events", params={"token": v.token}) for v in visitors[1:]]
    try:
        left = await visitors[0].say("取消")
        assert left["replies"][0]["text"].startswith("好的，已退出排队")
        async with asyncio.timeout(10):
            for ahead, stream in enumerate(streams):
                while (event := await next_data(stream))["text"].startswith("正在为您转接"):
                    pass  # the stream first replays what was pushed before it opened
                assert event["text"] == f"排队进度：{place(ahead)}。"  # each their own place, live
    finally:
        for stream in streams:
            stream.close()
    for ahead, visitor in enumerate(visitors[1:]):
        moved = [m["text"] for m in await pushed(visitor) if m["text"].startswith("排队进度")]
        assert moved == [f"排队进度：{place(ahead)}。"]  # stored once each, for the next page load too


async def test_two_staff_claiming_at_once_one_wins(open_client: TestClient) -> None:
    visitor = await new_visitor(open_client)
    await visitor.say("转人工")
    service = open_client.app[TICKETS]
    ticket = (await service.find(windows=None, status="waiting"))[0]
    results = await asyncio.gather(service.claim(ticket.id or 0, "a"), service.claim(ticket.id or 0, "b"),
                                   return_exceptions=True)
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert (await service.get(ticket.id or 0)).staff in ("a", "b")


async def test_a_citizen_leaving_as_staff_close_ends_the_ticket_once(open_client: TestClient) -> None:
    visitor = await new_visitor(open_client)
    await visitor.say("转人工")
    service = open_client.app[TICKETS]
    ticket = (await service.find(windows=None, status="waiting"))[0]
    await service.claim(ticket.id or 0, "zhao")
    results = await asyncio.gather(service.citizen_leaves(ticket), service.close(ticket.id or 0, "zhao"),
                                   return_exceptions=True)
    assert sum(isinstance(r, Conflict) for r in results) == 1
    closed = await service.get(ticket.id or 0)
    assert closed.status == "closed" and closed.closed_by in ("citizen", "zhao")
    endings = [m.text for m in await service.messages(closed) if m.sender == "system" and "结束" in m.text]
    assert len(endings) == 1
    with pytest.raises(NotFound):
        await service.close(999_999, "zhao")


async def test_a_rating_pushed_after_staff_close_is_chosen_by_number_or_title(open_client: TestClient) -> None:
    service = open_client.app[TICKETS]

    async def served_and_closed() -> tuple[Visitor, str]:
        visitor = await new_visitor(open_client)
        menu = await visitor.say("办护照")  # a turn with buttons of its own, older than the rating
        assert menu["replies"][-1]["buttons"]
        await visitor.say("转人工")
        ticket = (await service.open_ticket_of(visitor.user_id))
        assert ticket is not None
        await service.claim(ticket.id or 0, "zhao")
        await service.close(ticket.id or 0, "zhao")
        assert [b["title"] for b in (await pushed(visitor))[-1]["buttons"]][3] == "满意"
        return visitor, ticket.number

    by_number, number = await served_and_closed()
    chosen = await by_number.say("4")  # the fourth, worst first: as four stars would be
    assert chosen["flow"] == "feedback" and chosen["replies"][0]["text"].startswith("感谢评价")
    await by_number.say("跳过")
    assert (await service.find(windows=None, status="closed", number=number))[0].rating == 4
    # The pushed menu was this turn's: the next "4" is not a second rating.
    assert (await by_number.say("4"))["flow"] != "feedback"

    by_title, number = await served_and_closed()
    assert (await by_title.say("满意"))["flow"] == "feedback"
    await by_title.say("窗口态度很好")
    assert (await service.find(windows=None, status="closed", number=number))[0].rating == 4


async def test_transfer_keeps_history_and_other_windows_cannot_see(open_client: TestClient) -> None:
    client = open_client
    visitor = await new_visitor(client)
    await visitor.say("二手房过户要带啥")
    await visitor.say("转人工")
    await add_staff(client, "bdcstaff", windows=("不动产登记",))
    await add_staff(client, "gjjstaff", windows=("公积金",))
    await logged_in(client, "gjjstaff")
    assert (await (await client.get("/api/v1/agent/tickets")).json())["tickets"] == []
    csrf = await logged_in(client, "bdcstaff")
    ticket = (await (await client.get("/api/v1/agent/tickets")).json())["tickets"][0]
    assert ticket["window"] == "不动产登记"
    moved = await client.post(f"/api/v1/agent/tickets/{ticket['id']}/transfer", headers={"X-CSRF-Token": csrf},
                              json={"window": "公积金", "note": "问的是公积金贷款"})
    assert moved.status == 200 and (await moved.json())["window"] == "公积金"
    assert (await client.get(f"/api/v1/agent/tickets/{ticket['id']}")).status == 404
    await logged_in(client, "gjjstaff")
    detail = await (await client.get(f"/api/v1/agent/tickets/{ticket['id']}")).json()
    assert any(m["text"] == "二手房过户要带啥" for m in detail["messages"])
    assert any("转至公积金" in m["text"] for m in detail["messages"])
    assert any("已为您转接【公积金】窗口" in m["text"] for m in await pushed(visitor))


async def test_out_of_hours_the_citizen_leaves_a_message(closed_client: TestClient) -> None:
    visitor = await new_visitor(closed_client)
    offer = await visitor.say("转人工")
    text = offer["replies"][0]["text"]
    assert text.startswith("现在是非工作时间") and "回复您" in text
    left = await visitor.say("我想问公积金贷款额度怎么算")
    assert left["replies"][0]["text"].startswith("已留言（编号 GD")
    ticket = (await closed_client.app[TICKETS].find(windows=None))[0]
    assert (ticket.reason, ticket.summary, ticket.status) == ("message", "我想问公积金贷款额度怎么算", "waiting")
    assert ticket.window == "公积金"  # the window of what the message asks about


async def test_out_of_hours_asking_for_a_person_in_other_words_leaves_no_empty_message(
        closed_client: TestClient) -> None:
    for words in ("联系工作人员", "找个真人", "我要找工作人员"):
        visitor = await new_visitor(closed_client)
        offer = await visitor.say(words)  # the message is asked for, not "已留言" with nothing in it
        assert offer["replies"][0]["text"].startswith("现在是非工作时间"), (words, offer)
    assert await closed_client.app[TICKETS].find(windows=None) == []


async def test_out_of_hours_taking_the_request_back_asks_the_bot_instead(closed_client: TestClient) -> None:
    visitor = await new_visitor(closed_client)
    await visitor.say("转人工")
    asked = await visitor.say("那算了 身份证丢了咋补办")  # not left as a message for the morning
    assert asked["flow"] == "guide" and asked["replies"][0]["text"].startswith("【居民身份证换领、补领】"), asked
    fee = await visitor.say("要钱吗")  # about that item
    assert fee["replies"][0]["text"].startswith("【居民身份证换领、补领】收费"), fee
    assert await closed_client.app[TICKETS].find(windows=None) == []


async def test_out_of_hours_a_message_is_asked_for_added_to_and_withdrawn(closed_client: TestClient) -> None:
    service = closed_client.app[TICKETS]
    visitor = await new_visitor(closed_client)
    await visitor.say("转人工")
    ok = await visitor.say("好的")  # not the message: it is asked for
    assert ok["replies"][0]["text"].startswith("请直接写下您要咨询或反映的问题"), ok
    wait = await visitor.say("还要等多久")  # when, not the message itself
    assert wait["replies"][0]["text"].startswith("工作人员将在") and "上班后回复您" in wait["replies"][0]["text"], wait
    assert await service.find(windows=None) == []
    left = await visitor.say("护照能不能加急办")
    number = (await service.find(windows=None))[0].number
    assert left["replies"][0]["text"].startswith(f"已留言（编号 {number}），出入境窗口"), left
    still = await visitor.say("在吗")  # nobody serves tonight: no place in a queue
    text = still["replies"][0]["text"]
    assert text.startswith(f"您的留言（编号 {number}）已收到") and "下一位" not in text, still
    waiting = await visitor.say("什么时候有人回")  # not added to the message
    assert waiting["replies"][0]["text"].startswith(f"您的留言（编号 {number}）已收到"), waiting
    added = await visitor.say("下周三要出国")
    assert added["replies"][0]["text"].startswith(f"已补充到您的留言（编号 {number}）"), added
    ticket = (await service.find(windows=None))[0]
    assert [m.text for m in await service.messages(ticket) if m.sender == "citizen"][-1] == "下周三要出国"
    withdrawn = await visitor.say("取消")
    assert withdrawn["replies"][0]["text"] == f"好的，留言（编号 {number}）已撤回。还需要办什么，直接告诉我。"
    assert (await service.get(ticket.id or 0)).status != "waiting"


async def test_asking_for_a_person_with_the_question_leaves_it_at_its_window(closed_client: TestClient) -> None:
    night = await new_visitor(closed_client)
    left = await night.say("转人工，问一下研发费用加计扣除的事")  # the classifier reads a policy question
    assert left["flow"] == "handoff" and left["replies"][0]["text"].startswith("已留言（编号 GD"), left
    ticket = (await closed_client.app[TICKETS].find(windows=None))[0]
    assert (ticket.window, ticket.summary) == ("惠企政策", "转人工，问一下研发费用加计扣除的事")


async def test_asking_for_a_person_with_the_question_queues_at_its_window(open_client: TestClient) -> None:
    day = await new_visitor(open_client)
    queued = await day.say("我要人工客服，公积金提取的问题")
    assert queued["flow"] == "handoff" and "【公积金】" in queued["replies"][0]["text"], queued
    ticket = (await open_client.app[TICKETS].find(windows=None))[0]
    assert ticket.summary == "我要人工客服，公积金提取的问题"


async def test_a_silent_console_gives_the_ticket_back(open_client: TestClient) -> None:
    visitor = await new_visitor(open_client)
    await visitor.say("转人工")
    service = open_client.app[TICKETS]
    ticket = (await service.find(windows=None, status="waiting"))[0]
    await service.heartbeat("online", ["综合"])
    await service.claim(ticket.id or 0, "online")
    assert await service.requeue_abandoned() == []
    redis: aioredis.Redis = open_client.app[REDIS]
    await redis.delete("yc:presence:online")  # the console closed 90 s ago
    assert await service.requeue_abandoned() == [ticket.id]
    assert (await service.get(ticket.id or 0)).status == "waiting"
    assert any("回到队列" in m["text"] for m in await pushed(visitor))


async def test_who_is_online_follows_each_console_s_latest_heartbeat_without_scanning_redis(
        open_client: TestClient) -> None:
    service = open_client.app[TICKETS]
    redis: aioredis.Redis = open_client.app[REDIS]
    # Many citizens' sessions and dedupe entries: finding the staff online must not walk through them.
    await redis.mset({f"yc:session:web:visitor{n}": "{}" for n in range(3000)})
    await service.heartbeat("wang", ["综合"])
    await service.heartbeat("zhou", ["社保"])
    await redis.config_resetstat()
    assert await service.online_staff("综合") == ["wang"]
    await service.heartbeat("zhou", ["综合", "社保"])  # took on a second window
    assert await service.online_staff("综合") == ["wang", "zhou"]
    await service.heartbeat("wang", ["社保"])  # moved to another window
    assert await service.online_staff("综合") == ["zhou"]
    assert await service.online_staff("社保") == ["wang", "zhou"]
    await redis.delete("yc:presence:zhou")  # the console closed 90 s ago
    assert await service.online_staff("综合") == []
    assert "cmdstat_scan" not in await redis.info("commandstats")


async def test_a_ticket_read_outside_a_session_is_saved_as_the_same_row(open_client: TestClient) -> None:
    """Tickets are read with one statement, not through an ORM session: one later added to a session must still
    update its row, never insert a copy."""
    visitor = await new_visitor(open_client)
    await visitor.say("转人工")
    service = open_client.app[TICKETS]
    [waiting] = await service.find(windows=None)
    ticket = await service.get(waiting.id or 0)
    ticket.summary = "改过的摘要"
    async with open_client.app[DB]() as db:
        db.add(ticket)
        await db.commit()
    [again] = await service.find(windows=None)
    assert (again.id, again.number, again.summary) == (waiting.id, waiting.number, "改过的摘要")


async def test_queues_come_back_after_redis_is_wiped(open_client: TestClient) -> None:
    for _ in range(3):
        await (await new_visitor(open_client)).say("转人工")
    await open_client.app[REDIS].flushdb()
    service = open_client.app[TICKETS]
    assert (await service.queues(["综合"]))[0]["waiting"] == 3
    ticket = (await service.find(windows=None, status="waiting"))[2]
    assert await service.position(ticket) == 3


async def test_a_retried_request_for_a_person_never_queues_a_second_ticket(open_client: TestClient) -> None:
    """A worker died after committing the ticket and before recording it in Redis: the marker still says
    "no ticket" (from the turn before), and the citizen's retry of 转人工 must get the same ticket back.
    """
    visitor = await new_visitor(open_client)
    await visitor.say("营业执照怎么办")  # the marker now says "none" for this user
    await visitor.say("转人工", msg_id="handoff")
    service = open_client.app[TICKETS]
    [ticket] = await service.of_user(visitor.user_id)
    redis: aioredis.Redis = open_client.app[REDIS]
    await redis.set(key(Prefix.USER_TICKET, visitor.user_id), NO_TICKET)  # what the dead worker left
    again, created = await service.open(user_id=visitor.user_id, channel="web", window="综合", reason="request",
                                        summary="转人工", context={}, history=[])
    assert (again.id, created) == (ticket.id, False)
    assert [t.id for t in await service.of_user(visitor.user_id)] == [ticket.id]
    assert await service.open_ticket_of(visitor.user_id) is not None  # the marker is repaired


async def test_auto_assignment_hands_tickets_to_the_least_busy_online_staff(aiohttp_client: Any, settings: Settings,
                                                                           tmp_path: Path) -> None:
    app_settings = _app_settings(settings, tmp_path, open_today=True).model_copy(update={"ticket_auto_assign": 1})
    client = await aiohttp_client(create_app(app_settings))
    service = client.app[TICKETS]
    await service.heartbeat("wang", ["综合"])
    await service.heartbeat("zhou", ["综合"])
    visitors = [await new_visitor(client) for _ in range(3)]
    answers = [(await visitor.say("转人工"))["replies"][0]["text"] for visitor in visitors]
    # The first two are taken at once and told so in the same reply; the third waits first in the queue.
    assert [a.startswith("工作人员正在为您服务") for a in answers] == [True, True, False]
    assert "下一位就是您" in answers[2]
    served = await service.find(windows=None, status="serving")
    assert sorted(t.staff or "" for t in served) == ["wang", "zhou"]  # one each: capacity 1
    assert len(await service.find(windows=None, status="waiting")) == 1
    assert any(m["text"].startswith("工作人员") for m in await pushed(visitors[0]))
    await service.close(served[0].id or 0, served[0].staff or "")
    assert len(await service.find(windows=None, status="waiting")) == 0  # the freed person takes the next


async def test_asking_for_a_person_in_the_middle_of_a_complaint_reaches_the_complaint_window(
        open_client: TestClient) -> None:
    visitor = await new_visitor(open_client)
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    queued = await visitor.say("转人工")
    assert queued["flow"] == "handoff" and "【办不成事反映】" in queued["replies"][0]["text"]
    ticket = (await open_client.app[TICKETS].find(windows=None))[0]
    assert ticket.window == "办不成事反映"


async def test_a_citizen_with_an_open_case_reaches_the_complaint_window(open_client: TestClient) -> None:
    visitor = await new_visitor(open_client)
    await visitor.say("我都跑了三趟了，公积金还是取不出来")
    for answer in ("说租房合同没备案", "跳过", "跳过", "跳过", "13912345678"):
        await visitor.say(answer)
    filed = await visitor.say("确认")
    case_no = filed["replies"][0]["buttons"][0]["payload"]
    assert [b["title"] for b in filed["replies"][0]["buttons"]] == ["查询进度", "联系工作人员"]
    queued = await visitor.say("联系工作人员")
    assert queued["flow"] == "handoff" and "【办不成事反映】" in queued["replies"][0]["text"]
    ticket = (await open_client.app[TICKETS].find(windows=None))[0]
    assert ticket.context["cases"] == [case_no]


async def test_progress_lists_the_citizens_tickets(open_client: TestClient) -> None:
    visitor = await new_visitor(open_client)
    await visitor.say("转人工")
    ticket = (await open_client.app[TICKETS].find(windows=None))[0]
    await open_client.app[TICKETS].claim(ticket.id or 0, "wang")
    await open_client.app[TICKETS].close(ticket.id or 0, "wang")
    listing = await visitor.say("我的事办到哪了")
    assert f"人工服务 {ticket.number}（综合窗口）：已结束" in listing["replies"][0]["text"]


def place(ahead: int) -> str:
    """How the citizen is told their place in the queue."""
    return f"前面还有 {ahead} 位" if ahead else "下一位就是您"


async def test_a_ticket_number_in_chat_shows_that_ticket_to_its_owner_only(open_client: TestClient) -> None:
    visitor = await new_visitor(open_client)
    await visitor.say("转人工")
    ticket = (await open_client.app[TICKETS].find(windows=None, status="waiting"))[0]
    await visitor.say("取消")  # out of the queue: the next message is the bot's again
    shown = await visitor.say(ticket.number)
    assert shown["flow"] == "progress"
    assert shown["replies"][0]["text"] == f"人工服务 {ticket.number}（{ticket.window}窗口）：已结束"
    stranger = await new_visitor(open_client)
    other = await stranger.say(ticket.number)
    assert other["replies"][0]["text"] == "没有找到您的这个人工服务单号，请核对。"


async def test_a_person_asked_for_while_choosing_among_items_of_one_window_is_at_that_window(
        open_client: TestClient) -> None:
    visitor = await new_visitor(open_client)
    choices = await visitor.say("公积金怎么取")
    assert len(choices["replies"][0]["buttons"]) > 1  # which kind of 公积金提取?
    queued = await visitor.say("人工")
    assert queued["replies"][0]["text"].startswith("正在为您转接【公积金】窗口")



async def test_no_wait_is_promised_when_nobody_at_the_window_is_online(open_client: TestClient) -> None:
    alone = await new_visitor(open_client)
    queued = await alone.say("转人工")
    text = queued["replies"][0]["text"]
    assert "工作人员暂时不在线，接待时会在这里回复您" in text and "预计等待" not in text, text
    await alone.say("取消")
    await open_client.app[TICKETS].heartbeat("wang", ["综合"])
    served = await new_visitor(open_client)
    assert "预计等待约" in (await served.say("转人工"))["replies"][0]["text"]


async def test_a_staff_member_without_a_display_name_is_not_shown_by_login_name(open_client: TestClient) -> None:
    await open_client.app[STAFF].add("crj.agent", PASSWORD, role="agent", windows=("综合",))
    visitor = await new_visitor(open_client)
    await visitor.say("转人工")
    service = open_client.app[TICKETS]
    ticket = await service.open_ticket_of(visitor.user_id)
    assert ticket is not None
    await service.claim(ticket.id or 0, "crj.agent")
    texts = [m["text"] for m in await pushed(visitor)]
    assert "工作人员已接入，为您服务。" in texts and not any("crj.agent" in t for t in texts)


async def test_out_of_hours_the_bot_still_answers_beside_a_message_left(closed_client: TestClient) -> None:
    service = closed_client.app[TICKETS]
    visitor = await new_visitor(closed_client)
    await visitor.say("转人工")
    await visitor.say("稳岗返还为啥今年没到账")
    number = (await service.find(windows=None))[0].number
    materials = await visitor.say("对了，开公司要带什么材料")  # answered now, not only added to the message
    assert materials["flow"] == "guide" and "留言" not in materials["replies"][0]["text"], materials
    hours = await visitor.say("那明天几点上班")
    assert hours["flow"] == "smalltalk", hours
    assert hours["replies"][-1]["text"].startswith("县政务服务中心办公时间"), hours
    progress = await visitor.say("查进度")
    assert number in progress["replies"][0]["text"], progress
    ticket = (await service.find(windows=None))[0]
    assert ticket.status == "waiting"  # the message still waits for staff, with the question added
    said = [m.text for m in await service.messages(ticket) if m.sender == "citizen"]
    assert "对了，开公司要带什么材料" in said and "查进度" not in said, said


async def test_out_of_hours_asking_the_phone_is_answered_not_left_as_the_message(closed_client: TestClient) -> None:
    visitor = await new_visitor(closed_client)
    await visitor.say("我要找人工客服")
    phone = await visitor.say("你们电话多少")  # not "已留言"
    assert phone["replies"][0]["text"].startswith("可以拨打 12345 政务服务便民热线"), phone
    assert await closed_client.app[TICKETS].find(windows=None) == []


async def test_the_centres_phone_is_said_when_the_deployment_gives_it(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.model_copy(update={"centre_phone": "0756-1234567"})))
    visitor = await new_visitor(client)
    asked = await visitor.say("咨询电话是多少")
    assert asked["replies"][0]["text"].startswith("县政务服务中心咨询电话：0756-1234567（工作日 9:00–17:30）"), asked
    given = await visitor.say("我的电话是13800001111")  # a number given is not the question
    assert "咨询电话" not in given["replies"][0]["text"], given


async def test_ending_the_service_as_the_last_words_of_a_message_ends_it(open_client: TestClient) -> None:
    service = open_client.app[TICKETS]
    visitor = await new_visitor(open_client)
    await visitor.say("办护照")
    await visitor.say("转人工")
    ticket = await service.open_ticket_of(visitor.user_id)
    assert ticket is not None
    await service.claim(ticket.id or 0, "zhao")
    kept = await visitor.say("行 谢谢")  # to the staff member, not an ending
    assert kept["replies"] == [] and (await service.open_ticket_of(visitor.user_id)) is not None
    ended = await visitor.say("行 谢谢 人工结束")  # it went to the staff member and the service stayed open
    assert ended["replies"][-1]["text"] == "请为本次人工服务评价：", ended
    assert await service.open_ticket_of(visitor.user_id) is None


async def _served_and_closed(client: TestClient, staff: str) -> tuple[Visitor, int]:
    """A visitor served at the 综合 window by `staff`, the service just closed (the rating buttons pushed)."""
    visitor = await new_visitor(client)
    await visitor.say("转人工")
    await add_staff(client, staff, windows=("综合",))
    headers = {"X-CSRF-Token": await logged_in(client, staff)}
    ticket_id = (await (await client.get("/api/v1/agent/tickets", params={"status": "waiting"})).json())[
        "tickets"][0]["id"]
    assert (await client.post(f"/api/v1/agent/tickets/{ticket_id}/claim", headers=headers)).status == 200
    assert (await client.post(f"/api/v1/agent/tickets/{ticket_id}/close", json={}, headers=headers)).status == 200
    assert (await pushed(visitor))[-1]["text"] == "请为本次人工服务评价："
    return visitor, ticket_id


async def test_a_rating_in_everyday_words_and_a_question_instead_of_a_comment(open_client: TestClient) -> None:
    client = open_client
    visitor, ticket_id = await _served_and_closed(client, "qian")
    rated = await visitor.say("五星好评")  # was "目前没有待评价的服务"
    assert rated["replies"][0]["text"].startswith("感谢评价！还有什么意见或建议吗"), rated
    asked = await visitor.say("稳岗返还到哪办")  # a question, not the comment: answered, the rating kept
    texts = [r["text"] for r in asked["replies"]]
    assert asked["flow"] == "policy" and "稳岗" in texts[0], texts
    assert texts[-1] == "已收到您的评价：非常满意。谢谢！", texts
    ticket = await client.app[TICKETS].get(ticket_id)
    assert ticket.rating == 5
    evaluation = (await client.app[EVALUATIONS].of_services("ticket", [ticket.number]))[ticket.number]
    assert evaluation.rating == 5 and evaluation.comment == ""

    unhappy, ticket_id = await _served_and_closed(client, "sun")
    await unhappy.say("差评")
    commented = await unhappy.say("等了太久，也没说清楚")  # a comment is still a comment
    assert commented["replies"][0]["text"].startswith("已收到您的评价：不满意。很抱歉"), commented
    ticket = await client.app[TICKETS].get(ticket_id)
    assert ticket.rating == 2


async def test_ending_a_service_nobody_is_giving_does_not_queue(open_client: TestClient) -> None:
    client = open_client
    nobody = await new_visitor(client)
    for said in ("结束人工服务", "人工结束", "不用人工了"):
        answer = await nobody.say(said)  # "结束人工服务" said 人工服务: it queued a new ticket
        assert answer["replies"][0]["text"].startswith("现在没有在进行的人工服务"), (said, answer)
    assert await client.app[TICKETS].find(windows=None) == []
    served, ticket_id = await _served_and_closed(client, "zhou")
    await served.say("谢谢")  # the pushed rating buttons are gone from the next turn
    ended = await served.say("结束人工服务")
    assert [r["text"] for r in ended["replies"]] == ["这次人工服务已经结束了。", "请为本次人工服务评价："], ended
    await served.say(ended["replies"][1]["buttons"][-1]["payload"])
    await served.say("跳过")
    assert (await client.app[TICKETS].get(ticket_id)).rating == 5
    assert len(await client.app[TICKETS].find(windows=None)) == 1


async def test_leaving_the_queue_in_words_with_a_question_answers_it(open_client: TestClient) -> None:
    client = open_client
    visitor = await new_visitor(client)
    await visitor.say("转人工")
    asked = await visitor.say("算了不用了 我问下社保卡在哪办")  # was passed to staff as the citizen's message
    texts = [r["text"] for r in asked["replies"]]
    assert texts[0] == "好的，已退出排队。" and texts[1].startswith("【社会保障卡申领、补换】"), texts
    tickets = await client.app[TICKETS].find(windows=None)
    assert [(t.status, t.closed_by) for t in tickets] == [("closed", "citizen")], tickets


async def test_a_complaint_left_for_a_person_half_way_is_taken_up_again(open_client: TestClient) -> None:
    visitor = await new_visitor(open_client)
    await visitor.say("我要反映，窗口不给办居住证")
    await visitor.say("转人工")
    await visitor.say("取消")
    back = await visitor.say("好的，继续登记刚才的反映")  # was "没太明白", the draft lost
    texts = [r["text"] for r in back["replies"]]
    assert back["flow"] == "complaint" and "原因是什么" in texts[-1], texts
    summary_on_the_way = await visitor.say("说我社保没交满半年")
    assert "什么时候、在哪个窗口" in summary_on_the_way["replies"][-1]["text"], summary_on_the_way
