"""The WeChat official account channel over real HTTP, with messages signed and encrypted as WeChat does and a
fake WeChat API server that records every call.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import timedelta
from typing import Any

import pytest
import xmltodict
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import col, select
from wechatpy.crypto import WeChatCrypto

from bot.app import create_app
from bot.cli_wechat import run as run_wechat_cli
from bot.messages import Button, Reply
from bot.models import OutboundMessage, Turn
from bot.texts import Texts
from bot.typedefs import BACKGROUND_TASKS, DB, HTTP_CLIENT, OUTBOX, REDIS, SLA, TOKENS
from channels.wechat import (
    TEXT_LIMIT_BYTES,
    WECHAT,
    WECHAT_OUTBOX,
    WeChatMenu,
    pack,
    signature,
    split_text,
)
from channels.wechat_api import WeChatApi
from core.db import utcnow
from core.settings import Settings
from policy_kb.prechecks import Precheck
from tests.channels.wechat_fake import (
    APP_SECRET,
    SAMPLE_AES_KEY,
    SAMPLE_APP_ID,
    SAMPLE_TOKEN,
    FakeWeChat,
    event_xml,
    signed_query,
    text_xml,
    voice_xml,
)

OPENID = "oUser-0123456789abcdefghijklm"
USER = f"wechat:{OPENID}"


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakeWeChat, TestServer]:
    """The fake WeChat API, listening on a local port."""
    state = FakeWeChat()
    server = await aiohttp_server(state.app())
    return state, server


def wechat_settings(settings: Settings, server: TestServer, **extra: Any) -> Settings:
    """Settings with the WeChat channel on, its API pointed at the fake."""
    values = {"wechat_token": SAMPLE_TOKEN, "wechat_app_id": SAMPLE_APP_ID, "wechat_app_secret": APP_SECRET,
              "wechat_aes_key": SAMPLE_AES_KEY, "wechat_api_base": str(server.make_url("")).rstrip("/"),
              "wechat_template_id": "TEMPLATE-1", **extra}
    return settings.model_copy(update=values)


@pytest.fixture
async def wx(aiohttp_client: Any, settings: Settings, fake: tuple[FakeWeChat, TestServer]) -> TestClient:
    """The app with the WeChat channel on."""
    return await aiohttp_client(create_app(wechat_settings(settings, fake[1])))


async def post(client: TestClient, xml: str, **query: str) -> tuple[int, str]:
    """POST a plaintext message signed as WeChat signs it."""
    resp = await client.post("/wechat", params={**signed_query(openid=OPENID), **query}, data=xml.encode())
    return resp.status, await resp.text()


def reply_content(body: str) -> str:
    """The Content of a passive XML text reply."""
    return str(xmltodict.parse(body)["xml"]["Content"])


async def turns_of(client: TestClient, user: str = USER) -> list[Turn]:
    """The turn log of one user."""
    async with client.app[DB]() as db:
        return list((await db.exec(select(Turn).where(Turn.user_id == user))).all())


# ---------------------------------------------------------------- URL verification and refusals


async def test_url_verification_echoes_echostr(wx: TestClient) -> None:
    resp = await wx.get("/wechat", params={**signed_query(), "echostr": "echo-12345"})
    assert resp.status == 200 and await resp.text() == "echo-12345"


async def test_url_verification_with_a_forged_signature_is_refused(wx: TestClient) -> None:
    query = {**signed_query(), "echostr": "echo-12345"}
    query["signature"] = "0" * 40
    resp = await wx.get("/wechat", params=query)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "invalid_signature"


async def test_channel_is_off_without_a_token(client: TestClient) -> None:
    resp = await client.get("/wechat", params={**signed_query(), "echostr": "x"})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "channel_disabled"
    resp = await client.post("/wechat", params=signed_query(), data=text_xml(OPENID, "你好", 1))
    assert resp.status == 404


async def test_forged_message_signature_is_refused_and_body_not_logged(wx: TestClient,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    query = signed_query(openid=OPENID)
    query["signature"] = query["signature"][::-1]
    resp = await wx.post("/wechat", params=query, data=text_xml(OPENID, "我的身份证号码秘密", 1).encode())
    assert resp.status == 403
    assert "invalid_signature" in caplog.text and "身份证号码秘密" not in caplog.text


async def test_a_signed_timestamp_that_is_no_number_is_refused(wx: TestClient) -> None:
    """Regression: "²" passed isdigit() and then crashed int() (500) once the signature matched."""
    query = {"signature": signature(SAMPLE_TOKEN, "²", "1320562132"), "timestamp": "²", "nonce": "1320562132",
             "echostr": "echo-12345"}
    resp = await wx.get("/wechat", params=query)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "invalid_signature"


async def test_stale_timestamp_is_refused(wx: TestClient) -> None:
    query = signed_query(timestamp=int(time.time()) - 600, openid=OPENID)
    resp = await wx.post("/wechat", params=query, data=text_xml(OPENID, "你好", 1).encode())
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "stale_request"


@pytest.mark.parametrize("body", [
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>",
    '<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><Content>&lol2;</Content></xml>',
])
async def test_xml_with_a_dtd_or_entities_is_refused(wx: TestClient, body: str) -> None:
    status, text = await post(wx, body)
    assert status == 400 and "xml_dtd_forbidden" in text


@pytest.mark.parametrize("body", [b"not xml at all", b"<xml><unclosed></xml>", b"<html></html>", b"\xff\xfe<xml/>",
                                  b"<xml><MsgType>text</MsgType></xml>"])
async def test_garbage_is_a_clear_400(wx: TestClient, body: bytes) -> None:
    resp = await wx.post("/wechat", params=signed_query(openid=OPENID), data=body)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] in ("invalid_xml", "xml_dtd_forbidden")


async def test_oversize_body_is_413(wx: TestClient) -> None:
    resp = await wx.post("/wechat", params=signed_query(openid=OPENID), data=b"<xml>" + b"a" * 40_000 + b"</xml>")
    assert resp.status == 413


# ---------------------------------------------------------------- messages and events


async def test_text_message_gets_a_passive_reply_with_numbered_buttons(wx: TestClient) -> None:
    status, body = await post(wx, text_xml(OPENID, "你好", 1001))
    assert status == 200
    reply = xmltodict.parse(body)["xml"]
    assert reply["ToUserName"] == OPENID and reply["FromUserName"] == "gh_yichuang" and reply["MsgType"] == "text"
    assert "政务服务智能助手" in reply["Content"]
    assert "回复 1 惠企政策咨询" in reply["Content"] and "回复 6 转人工服务" in reply["Content"]
    status, body = await post(wx, text_xml(OPENID, "1", 1002))  # "1" selects the first line, as in the web chat
    assert "惠企政策" in reply_content(body)
    turns = await turns_of(wx)
    assert [t.channel for t in turns] == ["wechat", "wechat"] and turns[1].flow == "policy"


async def test_safe_mode_round_trip_with_wechatpy_crypto(wx: TestClient) -> None:
    crypto = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APP_ID)
    nonce, ts = "1320562132", str(int(time.time()))
    encrypted = crypto.encrypt_message(text_xml(OPENID, "你好", 2001), nonce, ts)
    msg_signature = xmltodict.parse(encrypted)["xml"]["MsgSignature"]
    query = {**signed_query(nonce=nonce, timestamp=int(ts), openid=OPENID), "encrypt_type": "aes",
             "msg_signature": msg_signature}
    resp = await wx.post("/wechat", params=query, data=encrypted.encode())
    assert resp.status == 200
    answer = xmltodict.parse(await resp.text())["xml"]
    plain = crypto.decrypt_message(await resp.text(), answer["MsgSignature"], answer["TimeStamp"], answer["Nonce"])
    assert "政务服务智能助手" in reply_content(plain)


async def test_safe_mode_with_a_forged_msg_signature_is_refused(wx: TestClient) -> None:
    crypto = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APP_ID)
    encrypted = crypto.encrypt_message(text_xml(OPENID, "你好", 2002), "1320562132", str(int(time.time())))
    query = {**signed_query(openid=OPENID), "encrypt_type": "aes", "msg_signature": "f" * 40}
    resp = await wx.post("/wechat", params=query, data=encrypted.encode())
    assert resp.status == 403


async def test_three_retries_of_one_msg_id_run_one_turn(wx: TestClient) -> None:
    xml = text_xml(OPENID, "阿巴阿巴", 3001)
    answers = await asyncio.gather(*(post(wx, xml) for _ in range(3)))
    assert {status for status, _ in answers} == {200}
    contents = {reply_content(body) for _, body in answers}
    assert len(contents) == 1
    # a fourth retry after the first finished gets the same answer, not the "second miss" one
    _, body = await post(wx, xml)
    assert reply_content(body) in contents
    assert len(await turns_of(wx)) == 1


async def test_slow_turn_answers_success_then_a_customer_service_message(
        aiohttp_client: Any, settings: Settings, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, server = fake
    client = await aiohttp_client(create_app(wechat_settings(settings, server, wechat_reply_budget_seconds=0)))
    status, body = await post(client, text_xml(OPENID, "你好", 4001))
    assert (status, body) == (200, "success")
    await state.wait_for(lambda s: bool(s.called("/cgi-bin/message/custom/send")))
    sent = state.called("/cgi-bin/message/custom/send")[0].body
    assert sent["touser"] == OPENID and sent["msgtype"] == "text"
    assert "政务服务智能助手" in sent["text"]["content"] and "回复 1" in sent["text"]["content"]
    # WeChat's retry of the same message is answered "success" and sends nothing more
    assert await post(client, text_xml(OPENID, "你好", 4001)) == (200, "success")
    assert len(await turns_of(client)) == 1
    await asyncio.gather(*client.app[BACKGROUND_TASKS])
    assert len(state.called("/cgi-bin/message/custom/send")) == 1


async def test_subscribe_event_welcomes_with_the_menu(wx: TestClient) -> None:
    _, body = await post(wx, event_xml(OPENID, "subscribe"))
    content = reply_content(body)
    assert "政务服务智能助手" in content and "回复 4 办不成事反映" in content


async def test_event_retry_is_deduplicated_by_user_and_create_time(wx: TestClient) -> None:
    created = int(time.time())
    first = await post(wx, event_xml(OPENID, "subscribe", create_time=created))
    second = await post(wx, event_xml(OPENID, "subscribe", create_time=created))
    assert reply_content(first[1]) == reply_content(second[1])
    assert len(await turns_of(wx)) == 1


async def test_menu_click_runs_the_flow_of_its_payload(wx: TestClient) -> None:
    status, body = await post(wx, event_xml(OPENID, "CLICK", "POLICY"))
    assert status == 200 and "惠企政策" in reply_content(body)
    turn = (await turns_of(wx))[0]
    assert turn.text == "有什么优惠政策" and turn.flow == "policy"


async def test_view_unsubscribe_and_template_finish_events_are_acknowledged(wx: TestClient) -> None:
    for event in ("VIEW", "unsubscribe", "TEMPLATESENDJOBFINISH", "LOCATION"):
        assert await post(wx, event_xml(OPENID, event, "https://example.org/")) == (200, "success")
    assert await turns_of(wx) == []


async def test_voice_uses_the_recognition_text(wx: TestClient) -> None:
    _, body = await post(wx, voice_xml(OPENID, "你好。", 5001))
    assert "政务服务智能助手" in reply_content(body)
    assert (await turns_of(wx))[0].text == "你好。"
    _, body = await post(wx, voice_xml(OPENID, "", 5002))
    assert reply_content(body) == Texts.from_yaml().get("wechat_voice_unrecognised")


async def test_image_and_location_are_acknowledged(wx: TestClient) -> None:
    image = (f"<xml><ToUserName>gh_yichuang</ToUserName><FromUserName>{OPENID}</FromUserName>"
             f"<CreateTime>{int(time.time())}</CreateTime><MsgType>image</MsgType>"
             "<PicUrl>https://example.org/a.jpg</PicUrl><MediaId>m</MediaId><MsgId>6001</MsgId></xml>")
    _, body = await post(wx, image)
    assert reply_content(body) == Texts.from_yaml().get("wechat_image_received")
    location = (f"<xml><ToUserName>gh_yichuang</ToUserName><FromUserName>{OPENID}</FromUserName>"
                f"<CreateTime>{int(time.time())}</CreateTime><MsgType>location</MsgType><Location_X>22.27</Location_X>"
                "<Location_Y>113.57</Location_Y><Scale>15</Scale><Label>珠海市香洲区</Label><MsgId>6002</MsgId></xml>")
    _, body = await post(wx, location)
    assert "珠海市香洲区" in reply_content(body)


# ---------------------------------------------------------------- the API client and pushed messages


async def test_access_token_is_cached_and_shared_between_workers(wx: TestClient,
                                                                 fake: tuple[FakeWeChat, TestServer]) -> None:
    state, server = fake
    sender = wx.app[WECHAT].sender
    await sender.api.send_text(OPENID, "一")
    await sender.api.send_text(OPENID, "二")
    other_worker = WeChatApi(wx.app[HTTP_CLIENT], wx.app[REDIS], base_url=str(server.make_url("")),
                             app_id=SAMPLE_APP_ID, app_secret=APP_SECRET)
    await other_worker.send_text(OPENID, "三")
    assert len(state.called("/cgi-bin/token")) == 1
    assert [c.body["text"]["content"] for c in state.called("/cgi-bin/message/custom/send")] == ["一", "二", "三"]


async def test_expired_access_token_is_refreshed_once(wx: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    api = wx.app[WECHAT].sender.api
    await api.send_text(OPENID, "一")
    state.expire_tokens()
    await api.send_text(OPENID, "二")
    assert len(state.called("/cgi-bin/token")) == 2
    sends = state.called("/cgi-bin/message/custom/send")
    assert [c.body["text"]["content"] for c in sends] == ["一", "二", "二"]  # refused once, then sent


async def test_busy_api_is_retried_with_back_off(wx: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    state.errors["/cgi-bin/message/custom/send"] = [-1]
    await wx.app[WECHAT].sender.api.send_text(OPENID, "一")
    assert len(state.called("/cgi-bin/message/custom/send")) == 2


async def test_staff_reply_pushed_to_a_wechat_user_goes_out_as_a_customer_service_message(
        wx: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    await wx.app[OUTBOX].push(USER, [Reply("您好，材料已收到。", buttons=(Button("查询进度", "BBC20261122-0001"),))],
                              "staff")
    await wx.app[OUTBOX].push("web:someone", [Reply("不是微信用户")], "staff")
    await wx.app[WECHAT_OUTBOX].drain()
    sends = state.called("/cgi-bin/message/custom/send")
    assert len(sends) == 1 and sends[0].body["touser"] == OPENID
    assert sends[0].body["text"]["content"] == "您好，材料已收到。\n回复 1 查询进度"


async def test_outside_the_48_hour_window_falls_back_to_the_template(
        wx: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    state.errors["/cgi-bin/message/custom/send"] = [45015]
    await wx.app[OUTBOX].push(USER, [Reply("您反映的问题（编号 BBC20261122-0001）已办结：已为您办理提取。")], "case")
    await wx.app[WECHAT_OUTBOX].drain()
    templates = state.called("/cgi-bin/message/template/send")
    assert len(templates) == 1
    body = templates[0].body
    assert body["touser"] == OPENID and body["template_id"] == "TEMPLATE-1"
    assert body["data"]["thing1"]["value"] == "办件进度通知"
    assert len(body["data"]["thing3"]["value"]) <= 20 and body["data"]["thing3"]["value"].startswith("您反映的问题")
    assert body["data"]["time2"]["value"][:2] == "20"


# ---------------------------------------------------------------- rendering, menu, CLI


def test_long_replies_are_split_within_wechats_limit() -> None:
    long = "\n".join(f"第{i}项：" + "材料" * 40 for i in range(60))
    pieces = split_text(long)
    assert len(pieces) > 1 and all(len(p.encode()) <= TEXT_LIMIT_BYTES for p in pieces)
    assert "\n".join(pieces) == long
    one_line = "字" * 2000
    assert "".join(split_text(one_line)) == one_line
    assert pack(["短一", "短二"]) == ["短一\n\n短二"]


async def test_long_turn_goes_out_as_several_customer_service_messages(
        wx: TestClient, fake: tuple[FakeWeChat, TestServer], monkeypatch: pytest.MonkeyPatch) -> None:
    state, _ = fake
    channel = wx.app[WECHAT]
    long_reply = Reply("\n".join("事项" * 100 for _ in range(12)))

    async def handle(inbound: Any) -> Any:
        from bot.engine import TurnResult

        return TurnResult((long_reply,), {}, "guide")

    monkeypatch.setattr(channel._engine, "handle", handle)
    assert await post(wx, text_xml(OPENID, "长", 7001)) == (200, "success")
    expected = split_text(long_reply.text)
    assert len(expected) > 1
    await state.wait_for(lambda s: len(s.called("/cgi-bin/message/custom/send")) == len(expected))
    sent = [c.body["text"]["content"] for c in state.called("/cgi-bin/message/custom/send")]
    assert "\n".join(sent) == long_reply.text


def test_menu_file_buttons_carry_the_help_menus_payloads() -> None:
    menu = WeChatMenu.load()
    help_payloads = {e["payload"] for e in Texts.from_yaml().menu("help")}
    assert set(menu.payloads.values()) == help_payloads
    assert "payload" not in str(menu.wire())


async def test_cli_pushes_and_shows_the_menu(settings: Settings, fake: tuple[FakeWeChat, TestServer],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    state, server = fake
    configured = wechat_settings(settings, server)
    await run_wechat_cli(configured, argparse.Namespace(wechat_command="menu", menu_action="push", file=None))
    assert state.menu == WeChatMenu.load().wire()
    await run_wechat_cli(configured, argparse.Namespace(wechat_command="menu", menu_action="show", file=None))
    assert "办事服务" in capsys.readouterr().out


async def test_settings_need_app_id_and_secret_with_a_token(settings: Settings) -> None:
    from core.errors import ConfigError
    from core.settings import load_settings

    with pytest.raises(ConfigError, match="WECHAT_APP_ID"):
        load_settings(wechat_token="abc123", _env_file=None)
    assert settings.wechat_reply_budget_seconds == 4.0


async def test_retries_landing_on_two_workers_run_one_turn(
        aiohttp_client: Any, settings: Settings, fake: tuple[FakeWeChat, TestServer]) -> None:
    configured = wechat_settings(settings, fake[1])
    one = await aiohttp_client(create_app(configured))
    two = await aiohttp_client(create_app(configured))
    xml = text_xml(OPENID, "阿巴阿巴", 8001)
    answers = await asyncio.gather(post(one, xml), post(two, xml), post(one, xml))
    assert len({reply_content(body) for _, body in answers}) == 1
    assert len(await turns_of(one)) == 1


async def test_a_failing_turn_is_answered_politely(wx: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(inbound: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(wx.app[WECHAT]._engine, "handle", broken)
    _, body = await post(wx, text_xml(OPENID, "你好", 9001))
    assert reply_content(body) == Texts.from_yaml().get("internal_error")


async def test_image_goes_to_the_staff_of_an_open_ticket_and_their_reply_comes_back(
        wx: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    from bot.typedefs import TICKETS
    from handoff.windows import ALL_WINDOWS

    state, _ = fake
    tickets = wx.app[TICKETS]
    ticket, _ = await tickets.open(user_id=USER, channel="wechat", window=sorted(ALL_WINDOWS)[0], reason="test",
                                   summary="", context={}, history=[])
    image = (f"<xml><ToUserName>gh_yichuang</ToUserName><FromUserName>{OPENID}</FromUserName>"
             f"<CreateTime>{int(time.time())}</CreateTime><MsgType>image</MsgType>"
             "<PicUrl>https://mmbiz.example/pic.jpg</PicUrl><MediaId>m</MediaId><MsgId>6101</MsgId></xml>")
    for _ in range(2):  # WeChat's retry does not relay the image twice
        _, body = await post(wx, image)
        assert reply_content(body) == Texts.from_yaml().get("wechat_image_relayed")
    texts = [m.text for m in await tickets.messages(ticket)]
    assert texts.count("［图片］https://mmbiz.example/pic.jpg") == 1
    await tickets.claim(ticket.id, "wang.fang")
    await tickets.reply(ticket.id, "wang.fang", "收到图片，营业执照照片清楚，可以办理。")
    await wx.app[WECHAT_OUTBOX].drain()
    contents = [c.body["text"]["content"] for c in state.called("/cgi-bin/message/custom/send")]
    assert "收到图片，营业执照照片清楚，可以办理。" in contents


async def test_compatible_mode_body_with_plaintext_and_encrypt_is_decrypted(wx: TestClient) -> None:
    crypto = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APP_ID)
    nonce, ts = "98765", str(int(time.time()))
    plain = text_xml(OPENID, "你好", 2101)
    envelope = xmltodict.parse(crypto.encrypt_message(plain, nonce, ts))["xml"]
    body = plain.replace("</xml>", f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>")
    query = {**signed_query(nonce=nonce, timestamp=int(ts), openid=OPENID), "encrypt_type": "aes",
             "msg_signature": envelope["MsgSignature"]}
    resp = await wx.post("/wechat", params=query, data=body.encode())
    assert resp.status == 200
    answer = xmltodict.parse(await resp.text())["xml"]
    decrypted = crypto.decrypt_message(await resp.text(), answer["MsgSignature"], answer["TimeStamp"], answer["Nonce"])
    assert "政务服务智能助手" in reply_content(decrypted)


# ---------------------------------------------------------------- durable delivery of pushed messages


async def outbox_rows(client: TestClient, user: str = USER) -> list[OutboundMessage]:
    """The user's outbox rows, oldest first."""
    async with client.app[DB]() as db:
        query = select(OutboundMessage).where(OutboundMessage.user_id == user).order_by(col(OutboundMessage.id))
        return list((await db.exec(query)).all())


async def backdate_outbox(client: TestClient, by: timedelta) -> None:
    """Make every stored push older (instead of waiting for the redelivery chore's minimum age)."""
    async with client.app[DB]() as db:
        for row in (await db.exec(select(OutboundMessage))).all():
            row.created_at -= by
            db.add(row)
        await db.commit()


def sent_texts(state: FakeWeChat) -> list[str]:
    """The contents of every customer-service message sent, oldest first."""
    return [c.body["text"]["content"] for c in state.called("/cgi-bin/message/custom/send")]


async def test_a_push_whose_send_failed_is_delivered_by_the_redelivery_chore(
        wx: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    state.errors["/cgi-bin/message/custom/send"] = [45009]  # over quota: not retried at once
    await wx.app[OUTBOX].push(USER, [Reply("您好，材料已收到。")], "staff")
    await wx.app[WECHAT_OUTBOX].drain()
    assert sent_texts(state) == ["您好，材料已收到。"] and (await outbox_rows(wx))[0].delivered_at is None
    # The normal path has its minute: a chore run now leaves the row alone.
    assert await wx.app[OUTBOX].redeliver() == 0 and len(sent_texts(state)) == 1
    assert await wx.app[OUTBOX].redeliver(now=utcnow() + timedelta(seconds=61)) == 1
    assert sent_texts(state) == ["您好，材料已收到。"] * 2
    assert (await outbox_rows(wx))[0].delivered_at is not None
    # Delivered once: later rounds send nothing.
    assert await wx.app[OUTBOX].redeliver(now=utcnow() + timedelta(seconds=120)) == 0
    assert len(sent_texts(state)) == 2


async def test_a_push_made_where_no_dispatcher_runs_is_delivered_by_the_sla_leader(
        aiohttp_client: Any, wx: TestClient, settings: Settings, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    # Another process (no WeChat channel: like one that died before sending) pushes two messages.
    other = await aiohttp_client(create_app(settings))
    await other.app[OUTBOX].push(USER, [Reply("第一条")], "staff")
    await other.app[OUTBOX].push(USER, [Reply("第二条")], "case")
    assert sent_texts(state) == []
    await backdate_outbox(wx, timedelta(seconds=61))
    assert await wx.app[SLA].round() is not None  # the leader's round runs the chore
    assert sent_texts(state) == ["第一条", "第二条"]  # in order
    assert all(row.delivered_at is not None for row in await outbox_rows(wx))
    await wx.app[SLA].round()
    assert len(sent_texts(state)) == 2


async def test_a_delivered_push_is_never_sent_again(wx: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    await wx.app[OUTBOX].push(USER, [Reply("已为您转接人工。")], "system")
    await wx.app[WECHAT_OUTBOX].drain()
    assert sent_texts(state) == ["已为您转接人工。"] and (await outbox_rows(wx))[0].delivered_at is not None
    for later in (timedelta(seconds=61), timedelta(hours=47)):
        assert await wx.app[OUTBOX].redeliver(now=utcnow() + later) == 0
    assert len(sent_texts(state)) == 1


async def test_redelivery_keeps_a_users_order_and_gives_up_after_48_hours(
        wx: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    dispatcher = wx.app[WECHAT_OUTBOX]
    state.errors["/cgi-bin/message/custom/send"] = [45009, 45009]
    await wx.app[OUTBOX].push(USER, [Reply("一")], "staff")
    await wx.app[OUTBOX].push(USER, [Reply("二")], "case")
    await dispatcher.drain()
    state.errors["/cgi-bin/message/custom/send"] = [45009]  # the first fails again: the second must wait for it
    assert await dispatcher.redeliver(min_age=timedelta(0)) == 0
    assert sent_texts(state) == ["一", "二", "一"]
    assert await dispatcher.redeliver(min_age=timedelta(0)) == 2
    assert sent_texts(state) == ["一", "二", "一", "一", "二"]
    await wx.app[OUTBOX].push(USER, [Reply("太久了")], "staff")
    state.errors["/cgi-bin/message/custom/send"] = [45009]
    await dispatcher.drain()
    assert await dispatcher.redeliver(now=utcnow() + timedelta(hours=49)) == 0  # past the 48-hour window


async def test_a_follower_who_left_is_not_sent_to_again(wx: TestClient, fake: tuple[FakeWeChat, TestServer]) -> None:
    state, _ = fake
    state.errors["/cgi-bin/message/custom/send"] = [43004]  # require subscribe: the follower unfollowed
    await wx.app[OUTBOX].push(USER, [Reply("您的预约已确认。")], "system")
    await wx.app[WECHAT_OUTBOX].drain()
    assert (await outbox_rows(wx))[0].delivered_at is not None
    assert await wx.app[OUTBOX].redeliver(now=utcnow() + timedelta(seconds=61)) == 0
    assert len(sent_texts(state)) == 1


# ---------------------------------------------------------------- images and pre-checks


def image_xml(msg_id: int, url: str = "https://mmbiz.example/contract.jpg", media_id: str = "media-7") -> str:
    """An image message as WeChat pushes it."""
    return (f"<xml><ToUserName>gh_yichuang</ToUserName><FromUserName>{OPENID}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType>image</MsgType>"
            f"<PicUrl>{url}</PicUrl><MediaId>{media_id}</MediaId><MsgId>{msg_id}</MsgId></xml>")


async def test_image_after_a_precheck_is_stored_on_it_and_shown_to_its_owner(wx: TestClient) -> None:
    await post(wx, text_xml(OPENID, "二手房过户要带啥", 11001))
    _, body = await post(wx, text_xml(OPENID, "预审", 11002))
    assert "材料预审" in reply_content(body)
    _, body = await post(wx, text_xml(OPENID, "有1 2 3", 11003))
    number = re.search(r"预审单号 (YS\d{8}-\d{4})", reply_content(body))
    assert number is not None
    for _ in range(2):  # WeChat's retry does not attach the picture twice
        _, body = await post(wx, image_xml(11004))
        assert reply_content(body) == Texts.from_yaml().get("wechat_image_attached", number=number[1])
    token, _ = wx.app[TOKENS].issue(USER)
    resp = await wx.get(f"/api/v1/prechecks/{number[1]}", headers={"Authorization": f"Bearer {token}"})
    attachments = (await resp.json())["attachments"]
    assert resp.status == 200 and len(attachments) == 1
    assert attachments[0]["url"] == "https://mmbiz.example/contract.jpg" and attachments[0]["media_id"] == "media-7"
    assert attachments[0]["at"].startswith("20")
    stranger, _ = wx.app[TOKENS].issue("wechat:someone-else")
    resp = await wx.get(f"/api/v1/prechecks/{number[1]}", headers={"Authorization": f"Bearer {stranger}"})
    assert resp.status == 404


async def test_image_after_an_old_precheck_is_only_acknowledged(wx: TestClient) -> None:
    await post(wx, text_xml(OPENID, "二手房过户要带啥", 12001))
    await post(wx, text_xml(OPENID, "预审", 12002))
    await post(wx, text_xml(OPENID, "都有", 12003))
    async with wx.app[DB]() as db:
        record = (await db.exec(select(Precheck))).one()
        record.created_at -= timedelta(hours=25)
        db.add(record)
        await db.commit()
    _, body = await post(wx, image_xml(12004))
    assert reply_content(body) == Texts.from_yaml().get("wechat_image_received")
    async with wx.app[DB]() as db:
        assert (await db.exec(select(Precheck))).one().attachments == []
