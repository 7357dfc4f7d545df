"""The NLU over HTTP and inside the chat, as citizens type."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from bot.typedefs import GAPS
from core.clock import today_local
from policy_kb.models import KbGap
from tests.conftest import Visitor


async def parse(client: TestClient, text: str) -> dict:  # type: ignore[type-arg]
    resp = await client.post("/api/v1/nlu/parse", json={"text": text})
    body = await resp.json()
    assert resp.status == 200, body
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("二手房过户要带啥材料", "ask_materials"),
        ("办护照要多久能拿到", "ask_time_limit"),
        ("社保卡在哪办 几点下班", "ask_location"),
        ("我们小厂能享受啥优惠政策", "ask_policy"),
        ("跑了三趟了还是办不成 窗口推来推去", "complain"),
        ("公积金提不出来，去了两次了", "complain"),
        ("护照办不了吗", "ask_conditions"),
        ("我要转人工", "request_human"),
        ("帮我看看材料齐不齐", "precheck"),
    ],
)
async def test_colloquial_intents(client: TestClient, text: str, intent: str) -> None:
    body = await parse(client, text)
    assert body["intent"]["name"] == intent, body["intent_ranking"][:3]
    assert 0 < body["intent"]["confidence"] <= 1
    assert body["intent_ranking"][0]["name"] == intent


async def test_rasa_shape_with_entities_and_offsets(client: TestClient) -> None:
    text = "二手防过户要带啥，我电话１３９１２３４５６７８，下周一去"
    body = await parse(client, text)
    assert set(body) == {"text", "intent", "entities", "intent_ranking"}
    by_kind = {e["entity"]: e for e in body["entities"]}
    assert by_kind["item"]["value"] == "存量房转移登记"  # a typo still finds the KB item
    assert by_kind["phone"]["value"] == "13912345678"  # full-width digits
    assert by_kind["date"]["value"] >= "2026-01-01"
    for entity in body["entities"]:
        assert text[entity["start"]:entity["end"]], entity


async def test_past_and_coming_days_are_read_against_today(client: TestClient) -> None:
    today = today_local()
    monday = today - timedelta(days=today.weekday())
    for text, expected in (("上礼拜三去的", monday - timedelta(days=5)), ("昨天在窗口", today - timedelta(days=1)),
                           ("下周一去", monday + timedelta(days=7)), ("上上周五", monday - timedelta(days=10))):
        dates = [e["value"] for e in (await parse(client, text))["entities"] if e["entity"] == "date"]
        assert dates == [expected.isoformat()], text


async def test_id_numbers_are_recognised_but_masked(client: TestClient) -> None:
    body = await parse(client, "我身份证号110101199003071234")
    ids = [e for e in body["entities"] if e["entity"] == "id_number"]
    assert ids and ids[0]["value"] == "110101************"


async def test_exact_commands_are_certain(client: TestClient) -> None:
    body = await parse(client, "取消")
    assert body["intent"] == {"name": "cancel", "confidence": 1.0}


async def test_bad_requests(client: TestClient) -> None:
    for payload, status in (({}, 400), ({"text": ""}, 400), ({"text": 5}, 400), ({"text": "字" * 2001}, 413)):
        resp = await client.post("/api/v1/nlu/parse", json=payload)
        assert resp.status == status
        assert "error" in await resp.json()


async def test_chat_answers_chitchat_and_out_of_scope_and_records_misses(client: TestClient,
                                                                         visitor: Visitor) -> None:
    chit = await visitor.say("你是机器人吗")
    assert chit["flow"] == "smalltalk" and "一窗" in chit["replies"][0]["text"]
    away = await visitor.say("帮我点个外卖")
    assert away["nlu"]["intent"]["name"] == "out_of_scope" and away["replies"][0]["buttons"]
    await visitor.say("阿巴阿巴")
    gaps = await client.app[GAPS].top()
    assert {(g.example, g.kind) for g in gaps} >= {("阿巴阿巴", "chat"), ("帮我点个外卖", "out_of_scope")}
    assert all(isinstance(g, KbGap) for g in gaps)


async def test_a_same_sounding_typo_of_a_name_is_read_as_the_name(client: TestClient, visitor: Visitor) -> None:
    # typed with a pinyin input method: 公基金 for 公积金 was read as out of scope ("超出了我能帮忙的范围")
    body = await parse(client, "公基金怎么提取")
    assert body["intent"]["name"] == "ask_process", body["intent_ranking"][:3]
    assert [e["entity"] for e in body["entities"]] == ["item"]
    answer = await visitor.say("公基金怎么提取")
    assert answer["flow"] == "guide"
    assert any("公积金" in b["title"] for b in answer["replies"][-1]["buttons"]), answer["replies"]
    # a message that is out of scope stays so, whatever it sounds like
    assert (await parse(client, "帮我点个外卖"))["intent"]["name"] == "out_of_scope"
