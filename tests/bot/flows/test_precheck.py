"""Material pre-check (材料预审): every missing material in one reply, 容缺受理 by the rule, a numbered record."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from bot.choices_materials import material_numbers
from tests.conftest import Visitor, new_visitor


@pytest.mark.parametrize(
    ("text", "numbers"),
    [("有1 2 3", {1, 2, 3}), ("我有1、3、4", {1, 3, 4}), ("１，２", {1, 2}), ("1到4都有", {1, 2, 3, 4}),
     ("都有", {1, 2, 3, 4, 5}), ("都没有", set()), ("第一和第三", {1, 3}), ("有9", None), ("你好", None)],
)
def test_reading_which_materials_someone_has(text: str, numbers: set[int] | None) -> None:
    assert material_numbers(text, 5) == numbers


async def start_precheck(visitor: Visitor) -> None:
    await visitor.say("二手房过户要带啥")
    checklist = await visitor.say("预审")
    assert checklist["flow"] == "guide"
    assert checklist["replies"][0]["text"].startswith("【存量房转移登记】材料预审")
    assert checklist["replies"][0]["buttons"] == [], "a bare number must mean a material, not a button"


async def test_missing_main_material_is_named_with_all_others_at_once(client: TestClient, visitor: Visitor) -> None:
    await start_precheck(visitor)
    result = await visitor.say("有1 2 3")
    text = result["replies"][0]["text"]
    assert text.startswith("还缺以下材料（一次性告知）：")
    for missing in ("存量房买卖合同：网签备案合同", "婚姻状况声明或结婚证", "共有人同意处分的书面材料"):
        assert missing in text
    assert "存量房买卖合同是主要材料，补齐后即可受理" in text
    card = result["replies"][0]["card"]
    assert card["decision"] == "incomplete" and card["number"].startswith("YS")
    assert f"预审单号 {card['number']}" in text
    record = await client.get(f"/api/v1/prechecks/{card['number']}", headers=visitor.headers)
    body = await record.json()
    assert record.status == 200 and body["have"] == [1, 2, 3] and body["decision"] == "incomplete"
    assert [m["name"] for m in body["missing"]][:2] == ["存量房买卖合同", "婚姻状况声明或结婚证"]


async def test_deferrable_acceptance_says_what_and_by_when(visitor: Visitor) -> None:
    await start_precheck(visitor)
    result = await visitor.say("1到4都有")
    text = result["replies"][0]["text"]
    assert text.startswith("主要材料已备齐，可以容缺受理")
    assert "婚姻状况声明或结婚证" in text and "工作日内补交，最晚" in text
    assert result["replies"][0]["card"]["decision"] == "deferrable"
    assert result["replies"][0]["card"]["supply_by"] > "2026-01-01"


async def test_everything_present_goes_straight_to_the_window(visitor: Visitor) -> None:
    await start_precheck(visitor)
    result = await visitor.say("都有")
    assert result["replies"][0]["text"].startswith("材料齐全，可以直接到")
    assert result["replies"][0]["card"]["decision"] == "complete"


async def test_numbers_count_per_day_and_records_are_private(client: TestClient, visitor: Visitor) -> None:
    await start_precheck(visitor)
    first = (await visitor.say("都有"))["replies"][0]["card"]["number"]
    await visitor.say("预审")
    second = (await visitor.say("有1"))["replies"][0]["card"]["number"]
    assert first[:-4] == second[:-4] and int(second[-4:]) == int(first[-4:]) + 1
    stranger = await new_visitor(client)
    for url, headers in ((f"/api/v1/prechecks/{first}", stranger.headers),
                         ("/api/v1/prechecks/YS20991231-0001", visitor.headers)):
        resp = await client.get(url, headers=headers)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    assert (await client.get(f"/api/v1/prechecks/{first}")).status == 401


async def test_precheck_without_an_item_asks_for_it_first(visitor: Visitor) -> None:
    ask = await visitor.say("帮我看看材料齐不齐")
    assert "请问您要办理什么事项" in ask["replies"][0]["text"]
    checklist = await visitor.say("护照")
    assert "材料预审" in checklist["replies"][0]["text"]
