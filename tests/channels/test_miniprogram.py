"""The mini-program channel: wx.login code → jscode2session on a fake WeChat API → the project's token → the
web channel's message API with buttons and cards as JSON.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import select

from bot.app import create_app
from bot.messages import Reply
from bot.models import Turn
from bot.typedefs import DB, OUTBOX
from channels.miniprogram import LOGINS_PER_IP_MINUTE, MP_OUTBOX
from core.db import utcnow
from core.settings import Settings
from tests.channels.wechat_fake import GOOD_CODE, MP_APP_ID, MP_SECRET, FakeWeChat
from tests.conftest import Visitor


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakeWeChat, TestServer]:
    """The fake WeChat API, listening on a local port."""
    state = FakeWeChat()
    return state, await aiohttp_server(state.app())


@pytest.fixture
async def mp(aiohttp_client: Any, settings: Settings, fake: tuple[FakeWeChat, TestServer]) -> TestClient:
    """The app with the mini-program channel on."""
    configured = settings.model_copy(update={"mp_app_id": MP_APP_ID, "mp_app_secret": MP_SECRET,
                                             "mp_subscribe_template_id": "SUB-TEMPLATE-1",
                                             "mp_subscribe_page": "pages/chat/index",
                                             "wechat_api_base": str(fake[1].make_url("")).rstrip("/")})
    return await aiohttp_client(create_app(configured))


async def test_login_then_a_message_round_trip(mp: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    resp = await mp.post("/api/v1/mp/login", json={"code": GOOD_CODE})
    assert resp.status == 200
    body = await resp.json()
    assert body["user_id"] == "mp:o-mp-openid-1" and body["token"] and body["expires_at"]
    assert "session_key" not in body and "SESSION-KEY" not in await resp.text()
    call = state.called("/sns/jscode2session")[0]
    assert call.query["js_code"] == GOOD_CODE and call.query["grant_type"] == "authorization_code"
    visitor = Visitor(mp, body["token"], body["user_id"])
    answer = await visitor.say("你好")
    assert answer["flow"] == "smalltalk"
    buttons = answer["replies"][0]["buttons"]
    assert {"title": "转人工服务", "payload": "转人工"} in buttons and "card" in answer["replies"][0]
    async with mp.app[DB]() as db:
        turns = (await db.exec(select(Turn).where(Turn.user_id == "mp:o-mp-openid-1"))).all()
    assert [t.channel for t in turns] == ["mp"]


async def test_a_bad_code_is_refused_clearly(mp: TestClient) -> None:
    resp = await mp.post("/api/v1/mp/login", json={"code": "expired-code"})
    assert resp.status == 401
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_code" and "登录失败" in error["message"]


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": "有中文"}, {"code": 123}])
async def test_a_malformed_code_is_400(mp: TestClient, body: dict[str, Any]) -> None:
    resp = await mp.post("/api/v1/mp/login", json=body)
    assert resp.status == 400


async def test_login_is_404_when_the_mini_program_is_not_configured(client: TestClient) -> None:
    resp = await client.post("/api/v1/mp/login", json={"code": GOOD_CODE})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "channel_disabled"


async def test_case_updates_go_out_as_subscription_messages(mp: TestClient,
                                                           fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    outbox = mp.app[OUTBOX]
    notice = Reply("您反映的问题（编号 BBC20261122-0001）已转交市住房公积金中心办理。")
    await outbox.push("mp:o-mp-openid-1", [notice], "case")
    await outbox.push("mp:o-mp-openid-1", [Reply("工作人员的回复")], "staff")  # read in the mini-program itself
    await mp.app[MP_OUTBOX].drain()
    sends = state.called("/cgi-bin/message/subscribe/send")
    assert len(sends) == 1
    body = sends[0].body
    assert body["touser"] == "o-mp-openid-1" and body["template_id"] == "SUB-TEMPLATE-1"
    assert body["page"] == "pages/chat/index" and body["data"]["thing2"]["value"] == "办件进度通知"
    assert state.called("/cgi-bin/token")[0].query["appid"] == MP_APP_ID
    # a user without a subscription left is not an error: the update stays in the outbox
    state.errors["/cgi-bin/message/subscribe/send"] = [43101]
    await outbox.push("mp:o-mp-openid-1", [Reply("已办结")], "case")
    await mp.app[MP_OUTBOX].drain()
    assert len(await outbox.after("mp:o-mp-openid-1", 0)) == 3


async def test_logins_from_one_address_are_limited(mp: TestClient) -> None:
    statuses = [(await mp.post("/api/v1/mp/login", json={"code": GOOD_CODE})).status
                for _ in range(LOGINS_PER_IP_MINUTE + 1)]
    assert statuses[:-1] == [200] * LOGINS_PER_IP_MINUTE and statuses[-1] == 429


async def test_a_case_update_whose_subscription_message_failed_is_sent_by_the_redelivery_chore(
        mp: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    outbox = mp.app[OUTBOX]
    state.errors["/cgi-bin/message/subscribe/send"] = [45009]  # over quota
    await outbox.push("mp:o-mp-openid-1", [Reply("您反映的问题已办结。")], "case")
    await outbox.push("mp:o-mp-openid-1", [Reply("工作人员的回复")], "staff")  # nothing to send: done at once
    await mp.app[MP_OUTBOX].drain()
    assert [row.delivered_at is None for row in await outbox.after("mp:o-mp-openid-1", 0)] == [True, False]
    assert await outbox.redeliver(now=utcnow() + timedelta(seconds=61)) == 1
    sends = state.called("/cgi-bin/message/subscribe/send")
    assert len(sends) == 2 and sends[1].body["template_id"] == "SUB-TEMPLATE-1"
    assert await outbox.redeliver(now=utcnow() + timedelta(seconds=61)) == 0
    assert len(state.called("/cgi-bin/message/subscribe/send")) == 2


async def test_login_over_wechats_minute_quota_is_429(mp: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    state.errors["/sns/jscode2session"] = [45011]
    resp = await mp.post("/api/v1/mp/login", json={"code": GOOD_CODE})
    assert resp.status == 429 and (await resp.json())["error"]["code"] == "wechat_quota"
    assert len(state.called("/sns/jscode2session")) == 1  # "retry next minute": not retried at once


async def test_a_wrong_app_id_is_a_server_error_not_a_bad_code(
        aiohttp_client: Any, settings: Settings, fake: tuple[FakeWeChat, TestServer]) -> None:
    configured = settings.model_copy(update={"mp_app_id": "wx-not-ours", "mp_app_secret": MP_SECRET,
                                             "wechat_api_base": str(fake[1].make_url("")).rstrip("/")})
    client = await aiohttp_client(create_app(configured))
    resp = await client.post("/api/v1/mp/login", json={"code": GOOD_CODE})
    assert resp.status == 502  # 40013 invalid appid: our configuration, not the citizen's code
