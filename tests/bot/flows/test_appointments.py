"""预约办事 and 帮办代办 in the guide flow: working days only, half-day capacity, number, cancel, reschedule."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from bot.typedefs import CALENDAR, DB, REDIS
from core.clock import today_local
from core.errors import Conflict, InvalidInput
from handoff.appointments import AppointmentBook, AppointmentRules
from handoff.calendar import date_in_words
from tests.conftest import Visitor, new_visitor
from tests.handoff.test_staff import add_staff, logged_in


def book_of(client: TestClient, capacity: int | None = None) -> AppointmentBook:
    """The app's appointment book (optionally with every window's capacity changed)."""
    rules = AppointmentRules.load()
    if capacity is not None:
        rules = rules.model_copy(update={"default_capacity": capacity, "capacity": {}})
    return AppointmentBook(client.app[DB], client.app[REDIS], client.app[CALENDAR], rules)


async def test_book_a_half_day_then_cancel(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("办护照")
    days = await visitor.say("我要预约")
    text = days["replies"][0]["text"]
    assert days["flow"] == "guide" and text.startswith("预约办理【普通护照签发")
    offered = [b["title"] for b in days["replies"][0]["buttons"]]
    expected = AppointmentRules.load().days_ahead
    assert offered == [date_in_words(d) for d in book_of(client).days(today_local())] and len(offered) == expected
    calendar = client.app[CALENDAR]
    assert all(calendar.is_workday(d) for d in book_of(client).days(today_local()))
    halves = await visitor.say("2")
    assert halves["replies"][0]["text"].startswith(offered[1])
    assert [b["title"] for b in halves["replies"][0]["buttons"]] == ["上午（余 15 个）", "下午（余 15 个）"]
    booked = await visitor.say("下午")
    reply = booked["replies"][0]
    number = reply["card"]["number"]
    assert reply["text"].startswith(f"预约成功，预约号 {number}") and number.startswith("YY")
    assert f"{offered[1]}下午（13:30–17:30）" in reply["text"]
    listing = await visitor.say("查进度")
    assert f"预约 {number}" in listing["replies"][0]["text"]
    cancelled = await visitor.say(f"取消预约 {number}")
    assert cancelled["replies"][0]["text"] == f"预约 {number} 已取消。"
    again = await visitor.say(f"取消预约 {number}")
    assert "已经取消" in again["replies"][0]["text"]


async def test_asking_for_my_appointment_lists_it_rather_than_booking_again(visitor: Visitor) -> None:
    await visitor.say("我要预约办护照")
    await visitor.say("1")
    number = (await visitor.say("上午"))["replies"][0]["card"]["number"]
    mine = await visitor.say("我的预约")
    assert mine["flow"] == "progress", mine
    assert number in mine["replies"][0]["text"]
    for question in ("我都约了啥", "我约了哪些", "我预约的啥"):  # each started a new booking (then a second one)
        asked = await visitor.say(question)
        assert asked["flow"] == "progress" and number in asked["replies"][0]["text"], (question, asked)


async def test_reschedule_books_the_new_time_and_cancels_the_old(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("二手房过户能帮我代办吗")
    await visitor.say("1")
    assert (await visitor.say("1"))["replies"][0]["text"].startswith("请留一个联系电话")
    await visitor.say("13912345678")
    first = await visitor.say("不用上门，我们自己去")
    number = first["replies"][0]["card"]["number"]
    assert "帮办代办已登记" in first["replies"][0]["text"]
    change = await visitor.say(f"改约 {number}")
    assert f"原预约 {number}" in change["replies"][0]["text"]
    await visitor.say("3")
    moved = await visitor.say("上午")  # the phone is not asked for again
    new_number = moved["replies"][0]["card"]["number"]
    assert new_number != number and moved["replies"][0]["card"]["kind"] == "assisted"
    assert "139****5678" in moved["replies"][0]["text"]
    upcoming = await book_of(client).of_user(visitor.user_id, today_local())
    assert [a.number for a in upcoming] == [new_number] and upcoming[0].phone == "13912345678"


async def test_assisted_service_takes_a_phone_and_an_address_that_staff_of_the_window_see(
        client: TestClient, visitor: Visitor) -> None:
    await visitor.say("二手房过户能帮我代办吗")
    await visitor.say("1")
    asked = await visitor.say("下午")
    assert asked["replies"][0]["text"] == "请留一个联系电话，工作人员办理前会先打给您："
    assert (await visitor.say("好的"))["replies"][0]["text"].startswith("请留一个联系电话")  # asked again
    wrong = await visitor.say("139123")
    assert wrong["flow"] == "guide" and wrong["replies"][0]["text"].startswith("这个号码好像不对")
    where = await visitor.say("１３９ ８７６５ ４３２１")  # full-width digits and spaces, as phones type them
    assert where["replies"][0]["text"].startswith("行动不便需要上门的")
    assert [b["title"] for b in where["replies"][0]["buttons"]] == ["到窗口"]
    again = await visitor.say("需要上门")
    assert again["replies"][0]["text"].startswith("还没有登记成功。请告诉我上门的详细地址")
    booked = await visitor.say("家里地址是幸福路12号3栋201，老人腿脚不便")  # the lead-in words are not the address
    text = booked["replies"][0]["text"]
    assert "上门到 幸福路12号3栋201，老人腿脚不便" in text and "139****4321" in text and "13987654321" not in text
    number = booked["replies"][0]["card"]["number"]
    assert "phone" not in booked["replies"][0]["card"]  # the card goes to the chat: no contact details in it

    await add_staff(client, "deng", windows=("不动产登记",))
    await add_staff(client, "chu", windows=("出入境",))
    await logged_in(client, "chu")
    assert (await (await client.get("/api/v1/agent/appointments")).json())["appointments"] == []
    await logged_in(client, "deng")
    listed = (await (await client.get("/api/v1/agent/appointments", params={"kind": "assisted"})).json())
    [row] = listed["appointments"]
    assert row["number"] == number and row["phone"] == "13987654321"
    assert row["address"] == "幸福路12号3栋201，老人腿脚不便" and row["half"] == "pm"
    bad = await client.get("/api/v1/agent/appointments", params={"from": "2026-13-01"})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_query"


async def test_someone_elses_booking_cannot_be_cancelled(client: TestClient, visitor: Visitor) -> None:
    book = book_of(client)
    day = book.days(today_local())[0]
    other = await book.book(user_id="web:other", kind="appointment", item_code="X", item_name="某事项", window="综合",
                            day=day, half="am", today=today_local())
    reply = await visitor.say(f"取消预约 {other.number}")
    assert "没有找到" in reply["replies"][0]["text"]


async def test_capacity_holds_when_two_people_take_the_last_place_at_once(client: TestClient) -> None:
    book = book_of(client, capacity=1)
    day = book.days(today_local())[0]

    async def take(user: str) -> str:
        try:
            made = await book.book(user_id=user, kind="appointment", item_code="X", item_name="某事项",
                                   window="综合", day=day, half="am", today=today_local())
            return made.number
        except Conflict:
            return "full"

    results = await asyncio.gather(take("web:a"), take("web:b"))
    assert results.count("full") == 1 and any(r.startswith("YY") for r in results), results
    assert [s.left for s in await book.slots("综合", day)] == [0, 1]
    with pytest.raises(InvalidInput):  # today and non-working days cannot be booked
        await book.book(user_id="web:c", kind="appointment", item_code="X", item_name="某事项", window="综合",
                        day=today_local(), half="pm", today=today_local())


async def test_a_day_and_half_in_one_message_books_and_bare_words_manage_it(client: TestClient,
                                                                            visitor: Visitor) -> None:
    none = await visitor.say("取消预约")
    assert none["flow"] == "guide" and none["replies"][0]["text"].startswith("您目前没有待办的预约")
    await visitor.say("办护照")
    days = await visitor.say("我要预约")
    second = days["replies"][0]["buttons"][1]["title"]  # e.g. 11月26日（周四）
    halves = await visitor.say(second)
    again = await visitor.say("嗯")  # neither half: asked again, nothing booked
    assert again["flow"] == "guide" and again["replies"][0]["text"].startswith("还没有预约成功。请选择时段")
    booked = await visitor.say("下午吧")
    number = booked["replies"][0]["card"]["number"]
    assert booked["replies"][0]["text"].startswith(f"预约成功，预约号 {number}") and halves["flow"] == "guide"
    detail = await visitor.say(number)  # the number as 进度 lists it
    assert detail["flow"] == "progress" and detail["replies"][0]["text"].startswith(f"预约 {number}：【普通护照签发")
    moved = await visitor.say("改约")  # no number: the one upcoming appointment
    assert f"原预约 {number} 自动取消" in moved["replies"][0]["text"]
    day_and_half = moved["replies"][1]["buttons"][2]["title"].split("（")[0] + "上午"  # "11月27日上午"
    rebooked = await visitor.say(day_and_half)
    new_number = rebooked["replies"][0]["card"]["number"]
    assert new_number != number and "上午" in rebooked["replies"][0]["text"]
    cancelled = await visitor.say("取消预约")
    assert cancelled["replies"][0]["text"] == f"预约 {new_number} 已取消。"
    mine = await book_of(client).of_user(visitor.user_id, today_local())
    assert mine == []


async def test_the_day_and_half_in_the_first_message_book_at_once(client: TestClient, visitor: Visitor) -> None:
    first = book_of(client).days(today_local())[0]
    day_words = f"{first.month}月{first.day}日"
    booked = await visitor.say(f"预约{day_words}下午办社保卡")
    reply = booked["replies"][0]
    assert reply["text"].startswith("预约成功") and f"{date_in_words(first)}下午" in reply["text"], booked
    calendar = client.app[CALENDAR]
    rest_day = next(d for d in (today_local() + timedelta(days=n) for n in range(1, 15)) if not calendar.is_workday(d))
    refused = await (await new_visitor(client)).say(f"预约{rest_day.month}月{rest_day.day}日上午办护照")
    text = refused["replies"][0]["text"]
    assert text.startswith(f"{date_in_words(rest_day)}不能预约，可以预约的是今后 5 个工作日。"), text
    assert len(refused["replies"][0]["buttons"]) == 5


async def test_a_question_half_way_through_assisted_service_is_answered_and_the_booking_kept(
        client: TestClient, visitor: Visitor) -> None:
    await visitor.say("社保卡补办可以帮办代办吗")
    await visitor.say("1")
    await visitor.say("上午")
    materials = await visitor.say("要带什么材料")  # at the phone question
    assert materials["flow"] == "guide"
    assert "【社会保障卡申领、补换】需要" in materials["replies"][0]["text"]
    assert materials["replies"][-1]["text"] == "请留一个联系电话，工作人员办理前会先打给您："
    assert (await visitor.say("13912345678"))["replies"][0]["text"].startswith("行动不便需要上门的")
    fee = await visitor.say("上门要收费吗")  # holds 上门, and is no address
    texts = [r["text"] for r in fee["replies"]]
    assert texts[0] == "帮办代办（包括上门）不另外收费。"
    assert "【社会保障卡申领、补换】收费" in texts[1]
    assert texts[-1].startswith("还没有登记成功。请告诉我上门的详细地址")
    booked = await visitor.say("幸福路12号3栋201")
    assert booked["replies"][0]["text"].startswith("帮办代办已登记")
    assert "上门到 幸福路12号3栋201" in booked["replies"][0]["text"]
    [made] = await book_of(client).of_user(visitor.user_id, today_local())
    assert made.phone == "13912345678" and made.address == "幸福路12号3栋201"


async def test_a_phone_corrected_at_the_address_step_is_the_one_booked(visitor: Visitor) -> None:
    await visitor.say("二手房过户能帮我代办吗")
    await visitor.say("1")
    await visitor.say("下午")
    await visitor.say("13912345678")
    corrected = await visitor.say("电话说错了，是13687654321")  # not an address, not a reason to ask again
    texts = [r["text"] for r in corrected["replies"]]
    assert texts[0] == "好的，电话已改为 136****4321。", corrected
    assert texts[-1].startswith("行动不便需要上门的")
    booked = await visitor.say("到窗口")
    text = booked["replies"][0]["text"]
    assert "136****4321" in text and "139****5678" not in text, text


async def test_a_day_that_cannot_be_booked_is_said_so_and_the_days_offered_again(client: TestClient,
                                                                               visitor: Visitor) -> None:
    offered = await visitor.say("我想预约办居住证")
    days = [b["title"] for b in offered["replies"][0]["buttons"]]
    calendar = client.app[CALENDAR]
    rest_day = next(today_local() + timedelta(days=n) for n in range(1, 15)
                    if not calendar.is_workday(today_local() + timedelta(days=n)))
    weekday = "一二三四五六日"[rest_day.weekday()]
    for asked in (f"周{weekday}上午" if rest_day - today_local() < timedelta(days=7) else date_in_words(rest_day),
                  "今天下午"):
        refused = await visitor.say(asked)
        text = refused["replies"][0]["text"]
        assert refused["flow"] == "guide" and "不能预约" in text and "请选择日期" in text, (asked, refused)
        assert [b["title"] for b in refused["replies"][0]["buttons"]] == days
    picked = await visitor.say(days[0])  # the booking goes on from where it was
    assert picked["replies"][0]["text"].startswith(f"{days[0]}，请选择时段"), picked


async def test_one_of_several_appointments_is_picked_by_what_it_is_for(client: TestClient, visitor: Visitor) -> None:
    numbers = []
    for asked in ("我想预约办社保卡", "我想预约办护照"):
        await visitor.say(asked)
        await visitor.say("1")
        booked = await visitor.say("上午")
        numbers.append(booked["replies"][0]["card"]["number"])
    which = await visitor.say("取消预约")
    assert which["replies"][0]["text"].startswith("您有几个预约"), which
    picked = await visitor.say("社保卡那个")  # not the 社保卡 guide: the booking for it
    assert picked["replies"][0]["text"] == f"预约 {numbers[0]} 已取消。", picked
    left = await visitor.say("我的预约")
    assert numbers[1] in left["replies"][0]["text"] and numbers[0] not in left["replies"][0]["text"], left


async def test_another_day_named_while_the_half_day_is_asked_changes_the_day(client: TestClient,
                                                                            visitor: Visitor) -> None:
    offered = await visitor.say("我想预约办社保卡")
    days = [b["title"] for b in offered["replies"][0]["buttons"]]
    await visitor.say(days[0])
    calendar = client.app[CALENDAR]
    second = date_in_words(calendar.add_working_days(today_local(), 2)[0])
    assert second == days[1], (second, days)  # the second bookable day is two working days on
    changed = await visitor.say(f"算了 改成{second}吧")  # not a cancel
    assert changed["flow"] == "guide" and changed["replies"][0]["text"].startswith(f"{second}，请选择时段"), changed
    booked = await visitor.say("下午")
    assert booked["replies"][0]["text"].startswith("预约成功") and f"{second}下午" in booked["replies"][0]["text"]


async def test_an_address_and_a_phone_in_one_message_book_at_once(visitor: Visitor) -> None:
    await visitor.say("二手房过户能帮我代办吗")
    await visitor.say("1")
    asked = await visitor.say("下午")
    assert asked["replies"][0]["text"].startswith("请留一个联系电话"), asked
    booked = await visitor.say("地址是城关镇幸福路8号，电话13812345678")  # both at once: not asked again
    text = booked["replies"][0]["text"]
    assert "上门到 城关镇幸福路8号" in text and "138****5678" in text, booked
    assert "13812345678" not in text


async def test_leaving_the_conversation_after_booking_says_the_appointment_is_still_there(
        client: TestClient, visitor: Visitor) -> None:
    for message in ("算了不去了，取消", "取消"):  # not "好的，已取消", with the appointment kept
        await visitor.say("我要预约办护照")
        await visitor.say("1")
        number = (await visitor.say("上午"))["replies"][0]["card"]["number"]
        left = await visitor.say(message)
        reply = left["replies"][0]
        assert reply["text"].startswith("好的，这次咨询先到这里。您的预约") and number in reply["text"], left
        assert [b["payload"] for b in reply["buttons"]] == [f"取消预约 {number}"]
        cancelled = await visitor.say("1")  # the button
        assert cancelled["replies"][0]["text"] == f"预约 {number} 已取消。", cancelled
    await visitor.say("我要预约办护照")
    await visitor.say("1")
    kept = (await visitor.say("上午"))["replies"][0]["card"]["number"]
    await visitor.say("取消")
    assert kept in (await visitor.say("我的预约"))["replies"][0]["text"]  # leaving did not cancel it
    plain = await visitor.say("取消")  # that conversation is over: nothing more to say of it
    assert plain["replies"][0]["text"] == "好的。还需要办什么，直接告诉我。", plain


async def test_whether_booking_is_needed_is_answered_before_the_days(visitor: Visitor) -> None:
    for question in ("护照要预约吗", "不预约直接去行不行"):
        answer = await visitor.say(question)
        text = answer["replies"][0]["text"]
        assert text.startswith("【普通护照签发"), answer
        assert "不预约也能办" in text and "请选择日期" in text and answer["replies"][0]["buttons"], answer
    plain = await visitor.say("我要预约")  # a request is not a question
    assert "不预约也能办" not in plain["replies"][0]["text"], plain


async def test_the_appointment_just_made_is_moved_in_plain_words(client: TestClient, visitor: Visitor) -> None:
    await visitor.say("我要预约办护照")
    days = book_of(client).days(today_local())
    await visitor.say("1")
    number = (await visitor.say("上午"))["replies"][0]["card"]["number"]
    moved = await visitor.say(f"不对 改成{days[2].month}月{days[2].day}日下午")  # not "没太明白"
    reply = moved["replies"][0]
    assert moved["flow"] == "guide" and reply["text"].startswith(f"原预约 {number} 已取消。\n预约成功"), moved
    assert f"{date_in_words(days[2])}下午" in reply["text"]
    upcoming = await book_of(client).of_user(visitor.user_id, today_local())
    assert [a.number for a in upcoming] == [reply["card"]["number"]]
    weekend = next(d for d in (today_local() + timedelta(days=n) for n in range(1, 9))
                   if not client.app[CALENDAR].is_workday(d))
    offered = await visitor.say(f"换到{weekend.month}月{weekend.day}日")  # a closed day: said, and days offered
    assert "不能预约" in offered["replies"][0]["text"] and offered["replies"][0]["buttons"], offered


async def test_an_appointment_is_changed_or_cancelled_in_plain_words_later(client: TestClient,
                                                                            visitor: Visitor) -> None:
    await visitor.say("预约社保卡补办")
    days = book_of(client).days(today_local())
    await visitor.say("1")
    number = (await visitor.say("上午"))["replies"][0]["card"]["number"]
    await visitor.say("我的预约")  # the records listed: another flow in between
    change = await visitor.say("能改时间吗")  # not "没太明白"
    assert change["flow"] == "guide", change
    assert change["replies"][0]["text"].startswith(f"好的，请选择新的时间。新的预约成功后，原预约 {number}"), change
    half = await visitor.say(f"改到{days[2].month}月{days[2].day}日")
    assert half["replies"][0]["text"].startswith(date_in_words(days[2])), half
    moved = await visitor.say("下午")
    assert moved["replies"][0]["text"].startswith(f"原预约 {number} 已取消。\n预约成功"), moved
    new_number = moved["replies"][0]["card"]["number"]
    await visitor.say("我的预约")
    at_once = await visitor.say(f"改到{days[3].month}月{days[3].day}日上午")  # the new day in the same message
    assert at_once["replies"][-1]["text"].startswith(f"原预约 {new_number} 已取消。\n预约成功"), at_once
    assert f"{date_in_words(days[3])}上午" in at_once["replies"][-1]["text"], at_once
    gone = await visitor.say("取消我的预约")
    assert gone["replies"][0]["text"] == f"预约 {at_once['replies'][-1]['card']['number']} 已取消。", gone
    assert await book_of(client).of_user(visitor.user_id, today_local()) == []


async def test_booking_asked_before_the_item_books_that_item(visitor: Visitor) -> None:
    await visitor.say("预约")
    days = await visitor.say("社保卡补办")  # the booking's days, not the item's 办理流程
    assert days["replies"][0]["text"].startswith("预约办理【社会保障卡申领、补换】"), days


async def test_of_two_bookings_the_one_named_is_moved_or_cancelled(client: TestClient, visitor: Visitor) -> None:
    days = book_of(client).days(today_local())
    await visitor.say("预约办社保卡")
    await visitor.say("1")
    card = (await visitor.say("下午"))["replies"][0]["card"]["number"]
    await visitor.say("预约办居住证")
    await visitor.say("2")
    residence = (await visitor.say("上午"))["replies"][0]["card"]["number"]
    moved = await visitor.say(f"社保卡的改到{days[3].month}月{days[3].day}日上午")  # not the 居住证 just booked
    assert moved["replies"][-1]["text"].startswith(f"原预约 {card} 已取消。\n预约成功"), moved
    assert "社保" in moved["replies"][-1]["text"], moved
    upcoming = await book_of(client).of_user(visitor.user_id, today_local())
    assert residence in [a.number for a in upcoming] and card not in [a.number for a in upcoming]
    gone = await visitor.say("取消居住证那个")
    assert gone["replies"][0]["text"] == f"预约 {residence} 已取消。", gone


async def test_a_bare_weekday_already_past_or_today_is_next_weeks(client: TestClient, visitor: Visitor) -> None:
    today = today_local()
    week = today.isocalendar()[:2]
    # an offered day whose weekday, said bare ("周三"), reads as this week's: today or a day gone by
    day = next(d for d in book_of(client).days(today) if (d - timedelta(days=7)).isocalendar()[:2] == week)
    weekday = "一二三四五六日"[day.weekday()]
    booked = await visitor.say(f"预约周{weekday}下午办社保卡")  # was "…不能预约", this week's being today or past
    reply = booked["replies"][0]
    assert reply["text"].startswith("预约成功") and f"{date_in_words(day)}下午" in reply["text"], booked
